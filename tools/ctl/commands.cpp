#include "tools/ctl/commands.hpp"

#include "core/one_line.hpp"
#include "partners/credentials.hpp"

#include "settlement/run.hpp"
#include "settlement/run_json.hpp"
#include "settlement/statement.hpp"
#include "settlement/statement_csv.hpp"
#include "storage/database.hpp"
#include "storage/ledger_check.hpp"
#include "storage/migrator.hpp"
#include "storage/partner_store.hpp"
#include "storage/program_store.hpp"
#include "storage/settlement_store.hpp"
#include "storage/sql_time.hpp"
#include "storage/token_store.hpp"

#include <cctype>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>

namespace coalition::ctl {
namespace {

constexpr std::string_view kUsage =
    "usage: coalitionctl [--config FILE] COMMAND\n"
    "\n"
    "commands:\n"
    "  migrate [--dir DIR]                 apply migrations (embedded, or DIR/NNNN_name.sql)\n"
    "  program show                        print the program settings in force (JSON)\n"
    "  program set KEY VALUE               KEY: currency, point_value, issue_fee,\n"
    "                                      validity_months, timezone\n"
    "  partner add ID --name NAME [--earn-rate N] [--secret whsec_...]\n"
    "                                      add a partner; prints its webhook secret\n"
    "  partner rotate-secret ID [--old-valid-hours H]\n"
    "                                      prints the new secret; the old ones work H more\n"
    "                                      hours (0..24, default 24; 0 after a leak)\n"
    "  partner suspend ID | resume ID      refuse / accept the partner's claims again\n"
    "  partner list                        one JSON object per partner and line\n"
    "  token create --role operator|partner [--partner ID]\n"
    "                                      prints a new API token (only its hash is stored)\n"
    "  token revoke TOKEN | --id ID        the token stops working at once\n"
    "  token list                          every token's id, role, partner and dates\n"
    "  settle DATE                         close DATE (YYYY-MM-DD) once it has ended; prints\n"
    "                                      its run (JSON), also when it was closed before\n"
    "  statement DATE PARTNER [--format json|csv]\n"
    "                                      print a partner's statement of DATE (closed or\n"
    "                                      provisional)\n"
    "  check                               verify the ledger's invariants over the whole\n"
    "                                      database; prints each violation, or ok and\n"
    "                                      the counts it checked\n"
    "  help                                this text\n"
    "\n"
    "exit status: 0 done, 1 the operation failed, 2 bad arguments or settings,\n"
    "             3 check found violations\n"
    "\n"
    "settings (config file key / environment variable):\n";

// Exit 2: the command line or the settings are wrong; nothing was attempted.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Exit 1: a well-formed command that could not be carried out.
class OperationError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// `check` found violations (exit kExitViolations).
class ViolationsFound : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct Arguments {
    std::vector<std::string> positional;
    std::map<std::string, std::string> options;  // "--name" -> value

    std::optional<std::string> option(const std::string& name) const {
        const auto found = options.find(name);
        if (found == options.end()) return std::nullopt;
        return found->second;
    }
};

// Every option takes a value, as "--opt VALUE" or "--opt=VALUE"; positional must match exactly.
Arguments parse_arguments(const std::vector<std::string>& args, std::size_t first,
                          const std::set<std::string>& allowed, std::size_t positional_count,
                          const std::string& command) {
    Arguments out;
    for (std::size_t i = first; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg.rfind("--", 0) != 0) {
            out.positional.push_back(arg);
            continue;
        }
        std::string name = arg;
        std::optional<std::string> value;
        if (const auto equals = arg.find('='); equals != std::string::npos) {
            name = arg.substr(0, equals);
            value = arg.substr(equals + 1);
        }
        if (allowed.count(name) == 0) {
            throw UsageError(command + ": unknown option " + name);
        }
        if (!value) {
            if (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0) {
                throw UsageError(command + ": " + name + " needs a value");
            }
            value = args[++i];
        }
        if (!out.options.emplace(name, *value).second) {
            throw UsageError(command + ": " + name + " given twice");
        }
    }
    if (out.positional.size() < positional_count) {
        throw UsageError(command + ": missing argument (see coalitionctl help)");
    }
    if (out.positional.size() > positional_count) {
        throw UsageError(command + ": unexpected argument '" + out.positional[positional_count] +
                         "'");
    }
    return out;
}

std::int64_t parse_integer(const std::string& what, const std::string& text, std::int64_t min,
                           std::int64_t max) {
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < min ||
        value > max) {
        throw UsageError(what + ": expected an integer " + std::to_string(min) + ".." +
                         std::to_string(max) + ", got '" + text + "'");
    }
    return value;
}

class Context {
  public:
    Context(const EnvLookup& env, std::optional<std::string> config_path, std::ostream& out)
        : env_(env), config_path_(std::move(config_path)), out_(out) {}

    std::ostream& out() { return out_; }

    // Settings are read only by commands that need them, so `help` works without any, and
    // lists the settings' names whatever the environment holds (a misspelt one included). The
    // names checked are the process's: what tests inject is a lookup of values.
    std::unique_ptr<pqxx::connection> connect_for_migration() {
        refuse_misspelt_setting_variables(process_environment_names());
        Settings settings = load_settings(env_, config_path_);
        require_database_setting(settings);
        try {
            return storage::connect(settings);
        } catch (const pqxx::broken_connection& e) {
            throw OperationError("cannot connect to the database: " + one_line(e.what()));
        }
    }

    // Every command but `migrate` needs the schema this binary was built for: on an older one it
    // would fail on a missing table or column, or write what the newer schema refuses. Refused
    // as the server refuses claims, naming the migration (found by review: `program set`,
    // `partner add` went through and `check` failed with raw SQL errors).
    std::unique_ptr<pqxx::connection> connect() {
        auto connection = connect_for_migration();
        if (const auto missing =
                storage::first_missing_migration(*connection, storage::embedded_migrations())) {
            throw OperationError(storage::schema_behind_message(*missing));
        }
        return connection;
    }

    // Runs `body` in one transaction and commits; output is written only after the commit, so
    // nothing is printed for a change that did not happen.
    template <typename Body>
    auto in_transaction(Body body) {
        auto connection = connect();
        pqxx::work tx(*connection);
        auto result = body(tx);
        tx.commit();
        return result;
    }

  private:
    const EnvLookup& env_;
    std::optional<std::string> config_path_;
    std::ostream& out_;
};

nlohmann::ordered_json program_json(const storage::ProgramSettings& program) {
    return {{"version", program.version},
            {"currency", program.currency},
            {"point_value", program.point_value.value()},
            {"issue_fee", program.issue_fee.value()},
            {"validity_months", program.validity_months},
            {"timezone", program.timezone},
            {"effective_from", program.effective_from}};
}

// Null, not "", for what a record does not have: a JSON reader tests for null.
nlohmann::ordered_json text_or_null(const std::string& text) {
    return text.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(text);
}

nlohmann::ordered_json token_json(const storage::TokenRecord& token) {
    return {{"id", token.id},
            {"role", storage::role_name(token.role)},
            {"partner_id", text_or_null(token.partner_id)},
            {"created_at", token.created_at},
            {"revoked_at", text_or_null(token.revoked_at)}};
}

nlohmann::ordered_json partner_json(const storage::Partner& partner) {
    nlohmann::ordered_json out = {{"id", partner.id},
                                  {"name", partner.name},
                                  {"earn_rate", partner.earn_rate},
                                  {"status", partner.suspended ? "suspended" : "active"},
                                  {"created_at", partner.created_at}};
    out["suspended_at"] = text_or_null(partner.suspended_at);
    return out;
}

void print_usage(std::ostream& out) {
    out << kUsage;
    for (const auto& line : describe_settings()) out << "  " << line << "\n";
}

int command_migrate(Context& context, const std::vector<std::string>& args) {
    const auto parsed = parse_arguments(args, 1, {"--dir"}, 0, "migrate");
    std::vector<storage::Migration> migrations;
    if (const auto directory = parsed.option("--dir")) {
        // A directory that cannot be read, or holds a file not named like a migration, is a bad
        // argument (exit 2): nothing was tried on the database.
        try {
            migrations = storage::load_migrations(*directory);
        } catch (const storage::MigrationError& e) {
            throw UsageError(std::string("migrate --dir: ") + e.what());
        }
    } else {
        migrations = storage::embedded_migrations();
    }
    auto connection = context.connect_for_migration();
    const auto report = storage::migrate(*connection, migrations);
    for (const auto& name : report.applied) context.out() << "applied " << name << "\n";
    if (report.applied.empty()) {
        context.out() << "up to date: nothing to apply (" << report.already_applied.size()
                      << " applied earlier)\n";
    }
    return kExitOk;
}

int command_program(Context& context, const std::vector<std::string>& args) {
    const std::string sub = args.size() > 1 ? args[1] : "";
    if (sub == "show") {
        parse_arguments(args, 2, {}, 0, "program show");
        const auto program =
            context.in_transaction([](pqxx::work& tx) { return storage::current_program(tx); });
        context.out() << program_json(program).dump() << "\n";
        return kExitOk;
    }
    if (sub == "set") {
        const auto parsed = parse_arguments(args, 2, {}, 2, "program set");
        const std::string& key = parsed.positional[0];
        const std::string& value = parsed.positional[1];
        // Refuse a bad key or value before touching the database.
        storage::validate_program_setting(key, value);
        const auto program = context.in_transaction([&](pqxx::work& tx) {
            return storage::set_program_setting(tx, key, value, storage::now_unix_micros());
        });
        context.out() << program_json(program).dump() << "\n";
        return kExitOk;
    }
    throw UsageError(sub.empty() ? "program: missing subcommand (show, set)"
                                 : "program: unknown subcommand '" + sub + "'");
}

int command_partner(Context& context, const std::vector<std::string>& args) {
    const std::string sub = args.size() > 1 ? args[1] : "";
    if (sub == "add") {
        const auto parsed =
            parse_arguments(args, 2, {"--name", "--earn-rate", "--secret"}, 1, "partner add");
        if (!parsed.option("--name")) throw UsageError("partner add: --name is required");
        storage::NewPartner partner;
        partner.id = parsed.positional[0];
        partner.name = *parsed.option("--name");
        if (const auto rate = parsed.option("--earn-rate")) {
            partner.earn_rate =
                parse_integer("--earn-rate", *rate, storage::kEarnRateMin, storage::kEarnRateMax);
        }
        partner.secret = parsed.option("--secret");
        storage::validate_new_partner(partner);
        const auto secret = context.in_transaction(
            [&](pqxx::work& tx) { return storage::add_partner(tx, partner); });
        context.out() << secret << "\n";
        return kExitOk;
    }
    if (sub == "rotate-secret") {
        const auto parsed =
            parse_arguments(args, 2, {"--old-valid-hours"}, 1, "partner rotate-secret");
        const auto hours_text = parsed.option("--old-valid-hours");
        const int old_valid_hours =
            hours_text
                ? static_cast<int>(parse_integer("partner rotate-secret: --old-valid-hours",
                                                 *hours_text, 0, storage::kRotationOverlapHours))
                : storage::kRotationOverlapHours;
        const auto secret = context.in_transaction([&](pqxx::work& tx) {
            return storage::rotate_secret(tx, parsed.positional[0], old_valid_hours);
        });
        context.out() << secret << "\n";
        return kExitOk;
    }
    if (sub == "suspend" || sub == "resume") {
        const auto parsed = parse_arguments(args, 2, {}, 1, "partner " + sub);
        context.in_transaction([&](pqxx::work& tx) {
            if (sub == "suspend") {
                storage::suspend_partner(tx, parsed.positional[0]);
            } else {
                storage::resume_partner(tx, parsed.positional[0]);
            }
            return 0;
        });
        return kExitOk;
    }
    if (sub == "list") {
        parse_arguments(args, 2, {}, 0, "partner list");
        const auto partners =
            context.in_transaction([](pqxx::work& tx) { return storage::list_partners(tx); });
        for (const auto& partner : partners) context.out() << partner_json(partner).dump() << "\n";
        return kExitOk;
    }
    throw UsageError(sub.empty()
                         ? "partner: missing subcommand (add, rotate-secret, suspend, resume, list)"
                         : "partner: unknown subcommand '" + sub + "'");
}

int command_token(Context& context, const std::vector<std::string>& args) {
    const std::string sub = args.size() > 1 ? args[1] : "";
    if (sub == "revoke") {
        // By the token itself (only its hash is stored): whoever holds a leaked token can have
        // it revoked. By its id (token list) when nobody can present it: a token lost, or held
        // by someone who left. Effective at once: every request looks its token up.
        const bool by_id = std::any_of(args.begin() + 2, args.end(), [](const std::string& arg) {
            return arg == "--id" || arg.rfind("--id=", 0) == 0;
        });
        const auto parsed = parse_arguments(args, 2, {"--id"}, by_id ? 0 : 1, "token revoke");
        if (by_id) {
            const auto id = parse_integer("token revoke: --id", *parsed.option("--id"), 1,
                                          std::numeric_limits<std::int64_t>::max());
            context.in_transaction([&](pqxx::work& tx) {
                storage::revoke_token_by_id(tx, id);
                return true;
            });
        } else {
            const auto hash = partners::token_hash(parsed.positional[0]);
            context.in_transaction([&](pqxx::work& tx) {
                storage::revoke_token(tx, hash);
                return true;
            });
        }
        context.out() << "revoked\n";
        return kExitOk;
    }
    if (sub == "list") {
        parse_arguments(args, 2, {}, 0, "token list");
        const auto tokens =
            context.in_transaction([](pqxx::work& tx) { return storage::list_tokens(tx); });
        for (const auto& token : tokens) context.out() << token_json(token).dump() << "\n";
        return kExitOk;
    }
    if (sub != "create") {
        throw UsageError(sub.empty() ? "token: missing subcommand (create, revoke, list)"
                                     : "token: unknown subcommand '" + sub + "'");
    }
    const auto parsed = parse_arguments(args, 2, {"--role", "--partner"}, 0, "token create");
    const auto role_text = parsed.option("--role");
    if (!role_text) throw UsageError("token create: --role is required (operator or partner)");
    const auto role = storage::parse_role(*role_text);
    if (!role) {
        throw UsageError("token create: --role must be operator or partner, got '" + *role_text +
                         "'");
    }
    const auto partner_id = parsed.option("--partner");
    storage::validate_token_request(*role, partner_id);
    const auto created = context.in_transaction(
        [&](pqxx::work& tx) { return storage::create_token(tx, *role, partner_id); });
    context.out() << created.token << "\n";
    return kExitOk;
}

storage::Date parse_settlement_date(const std::string& command, const std::string& text) {
    if (!settlement::is_settlement_date(text)) {
        throw UsageError(command + ": expected a date YYYY-MM-DD, got '" + text + "'");
    }
    return storage::parse_date(text);
}

int command_settle(Context& context, const std::vector<std::string>& args) {
    const auto parsed = parse_arguments(args, 1, {}, 1, "settle");
    const auto date = parse_settlement_date("settle", parsed.positional[0]);
    auto connection = context.connect();
    const auto result = storage::close_settlement(*connection, date, storage::now_unix_micros());
    if (result.outcome == storage::CloseOutcome::date_not_ended) {
        throw OperationError("date " + parsed.positional[0] + " has not ended");
    }
    // Closed now or before: the same run either way, as POST answers 201 or 200 with it.
    context.out() << settlement::run_to_json_text(result.read.run) << "\n";
    return kExitOk;
}

int command_statement(Context& context, const std::vector<std::string>& args) {
    const auto parsed = parse_arguments(args, 1, {"--format"}, 2, "statement");
    const auto date = parse_settlement_date("statement", parsed.positional[0]);
    const std::string& partner_id = parsed.positional[1];
    storage::require_partner_id_shape(partner_id);
    const std::string format = parsed.option("--format").value_or("json");
    if (format != "json" && format != "csv") {
        throw UsageError("statement: --format must be json or csv, got '" + format + "'");
    }
    auto connection = context.connect();
    const auto statement =
        storage::read_statement(*connection, date, partner_id, storage::now_unix_micros());
    if (!statement) {
        throw OperationError("no partner has the id " + partner_id);
    }
    if (format == "csv") {
        context.out() << settlement::statement_to_csv(*statement);  // ends with CRLF
    } else {
        context.out() << settlement::statement_to_json_text(*statement) << "\n";
    }
    return kExitOk;
}

// Violations go to stdout, one a line, so the output can be kept as a report; the exit status
// and the one-line reason on stderr say whether there were any.
int command_check(Context& context, const std::vector<std::string>& args) {
    parse_arguments(args, 1, {}, 0, "check");
    auto connection = context.connect();
    const auto report = storage::check_ledger(*connection, storage::now_unix_micros());
    for (const auto& violation : report.violations) context.out() << violation << "\n";
    if (!report.ok()) {
        throw ViolationsFound("check: " + std::to_string(report.violations.size()) +
                              " violation(s) of the ledger's invariants");
    }
    // The counts say what "ok" covered: an ok over 0 members on the wrong database is visible.
    context.out() << "ok: members " << report.members_checked << ", lots " << report.lots_checked
                  << ", closed runs " << report.runs_checked << "\n";
    return kExitOk;
}

int dispatch(const std::vector<std::string>& args, std::ostream& out, const EnvLookup& env) {
    std::optional<std::string> config_path;
    std::size_t first = 0;
    // Global options come before the command.
    while (first < args.size() && args[first].rfind("--", 0) == 0) {
        const std::string& arg = args[first];
        if (arg == "--help") {
            print_usage(out);
            return kExitOk;
        }
        if ((arg == "--config" || arg.rfind("--config=", 0) == 0) && config_path) {
            throw UsageError("--config is given twice");
        }
        if (arg == "--config") {
            if (first + 1 >= args.size()) throw UsageError("--config needs a value");
            config_path = args[first + 1];
            first += 2;
        } else if (arg.rfind("--config=", 0) == 0) {
            config_path = arg.substr(std::string_view("--config=").size());
            ++first;
        } else {
            throw UsageError("unknown option " + arg);
        }
    }
    if (first >= args.size()) throw UsageError("no command given (see coalitionctl help)");
    const std::vector<std::string> command(args.begin() + static_cast<std::ptrdiff_t>(first),
                                           args.end());
    Context context(env, config_path, out);
    const std::string& name = command[0];
    if (name == "help") {
        parse_arguments(command, 1, {}, 0, "help");
        print_usage(out);
        return kExitOk;
    }
    if (name == "migrate") return command_migrate(context, command);
    if (name == "program") return command_program(context, command);
    if (name == "partner") return command_partner(context, command);
    if (name == "token") return command_token(context, command);
    if (name == "settle") return command_settle(context, command);
    if (name == "statement") return command_statement(context, command);
    if (name == "check") return command_check(context, command);
    throw UsageError("unknown command '" + name + "' (see coalitionctl help)");
}

// A webhook secret or an API token typed where another argument was due (`--secret`
// forgotten) would be echoed by the usage error into logs that keep stderr (CI, the journal),
// which no secret may reach: the credential's characters after its prefix are left out. A
// prefix followed by fewer than 16 of them (an id such as coal_mine) is no credential.
std::string without_credentials(std::string_view text) {
    constexpr std::size_t kCredentialCharsMin = 16;
    const auto is_credential_char = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '/' ||
               c == '=' || c == '_' || c == '-';
    };
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t prefix = 0;
        // At the start of a word only: charcoal_... is an id.
        const bool word_starts = i == 0 || !is_credential_char(text[i - 1]);
        for (const std::string_view candidate : {"whsec_", "coal_"}) {
            if (word_starts && text.substr(i, candidate.size()) == candidate) {
                prefix = candidate.size();
            }
        }
        std::size_t end = i + prefix;
        while (prefix != 0 && end < text.size() && is_credential_char(text[end])) ++end;
        if (prefix != 0 && end - i - prefix >= kCredentialCharsMin) {
            out.append(text.substr(i, prefix)).append("(not shown)");
            i = end;
        } else {
            out += text[i++];
        }
    }
    return out;
}

int fail(std::ostream& err, int code, std::string_view reason) {
    err << "coalitionctl: " << one_line(without_credentials(reason)) << std::endl;
    return code;
}

}  // namespace

int run_ctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            const EnvLookup& env) {
    try {
        const int code = dispatch(args, out, env);
        out.flush();
        // A token or a secret is printed once: output lost to a full disk or a closed pipe must
        // not exit 0, or the operator would never know it is gone.
        if (!out) {
            return fail(err, kExitFailed,
                        "could not write the output; any change the command made is committed (if "
                        "it printed a token or a secret, that is lost: create or rotate another)");
        }
        return code;
    } catch (const UsageError& e) {
        return fail(err, kExitUsage, e.what());
    } catch (const SettingsError& e) {
        return fail(err, kExitUsage, e.what());
    } catch (const storage::ProgramSettingError& e) {
        const bool bad_input = e.kind() == storage::ProgramSettingError::Kind::invalid;
        return fail(err, bad_input ? kExitUsage : kExitFailed, e.what());
    } catch (const storage::PartnerError& e) {
        const bool bad_input = e.kind() == storage::PartnerError::Kind::invalid;
        return fail(err, bad_input ? kExitUsage : kExitFailed, e.what());
    } catch (const storage::TokenError& e) {
        const bool bad_input = e.kind() == storage::TokenError::Kind::invalid;
        return fail(err, bad_input ? kExitUsage : kExitFailed, e.what());
    } catch (const storage::MigrationError& e) {
        return fail(err, kExitFailed, e.what());
    } catch (const storage::SettlementIntegrityError& e) {
        return fail(err, kExitFailed, std::string("stored settlement is corrupt: ") + e.what());
    } catch (const ViolationsFound& e) {
        return fail(err, kExitViolations, e.what());
    } catch (const OperationError& e) {
        return fail(err, kExitFailed, e.what());
    } catch (const pqxx::broken_connection& e) {
        return fail(err, kExitFailed, std::string("database connection lost: ") + e.what());
    } catch (const pqxx::in_doubt_error& e) {
        return fail(err, kExitFailed,
                    std::string("outcome unknown, check before retrying: ") + e.what());
    } catch (const pqxx::sql_error& e) {
        return fail(err, kExitFailed, std::string("database error: ") + e.what());
    } catch (const std::exception& e) {
        return fail(err, kExitFailed, e.what());
    }
}

}  // namespace coalition::ctl
