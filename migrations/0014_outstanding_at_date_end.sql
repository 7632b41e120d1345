-- A run's outstanding points per issuer are what the issuer's lots held at the end of the run's
-- date. Until now they were what the lots held when the run was computed, so a date closed
-- late (the daily job down for a weekend, a close run by hand days after) showed later burns,
-- returns and reversals as the date's, and `coalitionctl check` could not recompute the figure
-- and took it from the run. Runs closed from now on are computed at the date's end and checked
-- like every other figure; runs closed before keep the figure they were closed with, which
-- nothing can recompute, and say so here. The close that computes at the date's end sets it;
-- the default is for every other writer (a server of an earlier release, say).
ALTER TABLE settlement_runs ADD COLUMN outstanding_at_date_end boolean NOT NULL DEFAULT false;
