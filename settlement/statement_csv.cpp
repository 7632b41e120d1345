#include "settlement/statement_csv.hpp"

#include <charconv>
#include <cstdint>
#include <optional>
#include <set>
#include <vector>

namespace coalition::settlement {
namespace {

constexpr std::size_t kColumns = 10;
constexpr std::string_view kLineEnd = "\r\n";

// Ids, dates and codes are from alphabets without commas or quotes, so no cell is ever
// quoted; quote anyway if that ever changes, rather than write a broken file.
std::string cell(std::string_view value) {
    if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
    std::string quoted = "\"";
    for (char c : value) {
        if (c == '"') quoted += '"';
        quoted += c;
    }
    quoted += '"';
    return quoted;
}

class CsvWriter {
  public:
    explicit CsvWriter(const PartnerStatement& statement)
        : prefix_(cell(statement.date) + "," + std::string(to_string(statement.status)) + "," +
                  cell(statement.currency) + "," + std::to_string(statement.point_value.value()) +
                  "," + cell(statement.partner_id) + ",") {
        out_ += kStatementCsvHeader;
        out_ += kLineEnd;
    }

    void row(std::string_view line_type, std::string_view from, std::string_view to,
             std::optional<Points> points, std::optional<MinorUnits> amount) {
        out_ += prefix_;
        out_ += line_type;
        out_ += ',' + cell(from) + ',' + cell(to) + ',';
        if (points) out_ += std::to_string(points->value());
        out_ += ',';
        if (amount) out_ += std::to_string(amount->value());
        out_ += kLineEnd;
    }
    void amount_row(std::string_view line_type, MinorUnits amount) {
        row(line_type, {}, {}, std::nullopt, amount);
    }
    void points_row(std::string_view line_type, Points points) {
        row(line_type, {}, {}, points, std::nullopt);
    }

    std::string take() { return std::move(out_); }

  private:
    std::string prefix_;
    std::string out_;
};

// Splits one record into cells, undoing RFC 4180 quoting.
std::vector<std::string> split_record(std::string_view line) {
    std::vector<std::string> cells(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                cells.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                cells.back() += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            cells.emplace_back();
        } else {
            cells.back() += c;
        }
    }
    if (quoted) throw StatementFormatError("statement CSV has an unterminated quote");
    return cells;
}

std::int64_t parse_integer(const std::string& text, std::string_view column) {
    std::int64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, value);
    if (text.empty() || error != std::errc() || stop != end) {
        throw StatementFormatError("statement CSV " + std::string(column) + " '" + text +
                                   "' is not an integer");
    }
    return value;
}

struct Row {
    std::string line_type;
    std::string from;
    std::string to;
    std::string points;
    std::string amount;
};

void require_empty(const std::string& value, std::string_view column, const Row& row) {
    if (!value.empty()) {
        throw StatementFormatError("statement CSV " + row.line_type + " row has a " +
                                   std::string(column));
    }
}

Points points_of(const Row& row) { return Points(parse_integer(row.points, "points")); }
MinorUnits amount_of(const Row& row) {
    return MinorUnits(parse_integer(row.amount, "amount_minor"));
}

}  // namespace

std::string statement_to_csv(const PartnerStatement& statement) {
    CsvWriter csv(statement);
    csv.amount_row("received", statement.received);
    csv.amount_row("paid", statement.paid);
    csv.amount_row("fees", statement.fees);
    csv.amount_row("rounding_difference", statement.rounding_difference);
    csv.amount_row("net", statement.net);
    for (const auto& obligation : statement.obligations) {
        csv.row("obligation", obligation.from, obligation.to, obligation.points, obligation.amount);
    }
    csv.points_row("own_redemptions", statement.own_redemptions);
    csv.points_row("points_issued", statement.points_issued);
    csv.points_row("points_expired", statement.points_expired);
    csv.points_row("points_outstanding", statement.points_outstanding);
    if (statement.instruction) {
        csv.row("instruction", statement.instruction->from, statement.instruction->to, std::nullopt,
                statement.instruction->amount);
    }
    return csv.take();
}

PartnerStatement statement_from_csv(std::string_view csv) {
    std::vector<std::string_view> lines;
    while (!csv.empty()) {
        const auto end = csv.find('\n');
        std::string_view line = csv.substr(0, end);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        lines.push_back(line);
        csv = end == std::string_view::npos ? std::string_view{} : csv.substr(end + 1);
    }
    if (lines.empty() || lines.front() != kStatementCsvHeader) {
        throw StatementFormatError("statement CSV does not start with the header row");
    }

    PartnerStatement statement;
    std::set<std::string> seen;
    std::optional<std::vector<std::string>> first_prefix;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        auto cells = split_record(lines[i]);
        if (cells.size() != kColumns) {
            throw StatementFormatError("statement CSV row " + std::to_string(i) + " has " +
                                       std::to_string(cells.size()) + " cells");
        }
        const std::vector<std::string> prefix(cells.begin(), cells.begin() + 5);
        if (!first_prefix) {
            first_prefix = prefix;
            statement.date = cells[0];
            const auto status = parse_run_status(cells[1]);
            if (!status) throw StatementFormatError("statement CSV status is unknown");
            statement.status = *status;
            statement.currency = cells[2];
            statement.point_value = Micros(parse_integer(cells[3], "point_value"));
            statement.partner_id = cells[4];
        } else if (prefix != *first_prefix) {
            throw StatementFormatError(
                "statement CSV rows disagree on date, status, currency, "
                "point_value or partner_id");
        }
        const Row row{cells[5], cells[6], cells[7], cells[8], cells[9]};
        if (row.line_type != "obligation" && !seen.insert(row.line_type).second) {
            throw StatementFormatError("statement CSV repeats line_type " + row.line_type);
        }
        if (row.line_type == "obligation") {
            statement.obligations.push_back(
                Obligation{row.from, row.to, points_of(row), amount_of(row)});
            continue;
        }
        if (row.line_type == "instruction") {
            require_empty(row.points, "points", row);
            statement.instruction = Instruction{row.from, row.to, amount_of(row)};
            continue;
        }
        require_empty(row.from, "from", row);
        require_empty(row.to, "to", row);
        struct AmountLine {
            std::string_view type;
            MinorUnits PartnerStatement::*field;
        };
        struct PointsLine {
            std::string_view type;
            Points PartnerStatement::*field;
        };
        static constexpr AmountLine kAmountLines[] = {
            {"received", &PartnerStatement::received},
            {"paid", &PartnerStatement::paid},
            {"fees", &PartnerStatement::fees},
            {"rounding_difference", &PartnerStatement::rounding_difference},
            {"net", &PartnerStatement::net}};
        static constexpr PointsLine kPointsLines[] = {
            {"own_redemptions", &PartnerStatement::own_redemptions},
            {"points_issued", &PartnerStatement::points_issued},
            {"points_expired", &PartnerStatement::points_expired},
            {"points_outstanding", &PartnerStatement::points_outstanding}};
        bool known = false;
        for (const auto& line : kAmountLines) {
            if (line.type != row.line_type) continue;
            require_empty(row.points, "points", row);
            statement.*line.field = amount_of(row);
            known = true;
        }
        for (const auto& line : kPointsLines) {
            if (line.type != row.line_type) continue;
            require_empty(row.amount, "amount_minor", row);
            statement.*line.field = points_of(row);
            known = true;
        }
        if (!known) throw StatementFormatError("statement CSV line_type " + row.line_type);
    }
    // Every single-row line type must be there: a truncated file must not read as zeros.
    for (std::string_view required :
         {"received", "paid", "fees", "rounding_difference", "net", "own_redemptions",
          "points_issued", "points_expired", "points_outstanding"}) {
        if (!seen.contains(std::string(required))) {
            throw StatementFormatError("statement CSV lacks the " + std::string(required) + " row");
        }
    }
    return statement;
}

}  // namespace coalition::settlement
