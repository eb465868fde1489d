# Reproduce the results table of msprog's introductory vignette ("Minimal example": first
# confirmed EDSS worsening of the toy cohort, with relapses) by calling smoulder from R.
#
#   Rscript docs/examples/msprog_vignette.R
#
# Needs R, the msprog package (for its toy data and for the comparison) and smoulder on the PATH
# (or SMOULDER=/path/to/smoulder). Exit status 0 when smoulder's table equals msprog's.
suppressPackageStartupMessages(library(msprog))

smoulder <- Sys.getenv("SMOULDER", "smoulder")
work <- tempfile("smoulder-")
dir.create(work)

# 1. the vignette's data, written as CSV (ISO dates; write.csv's "NA" is read as missing)
data(toydata_visits, package = "msprog")
data(toydata_relapses, package = "msprog")
write.csv(toydata_visits, file.path(work, "visits.csv"), row.names = FALSE)
write.csv(toydata_relapses, file.path(work, "relapses.csv"), row.names = FALSE)

# 2. smoulder progression with msprog's settings: EDSS, first CDW, relapses;
#    msprog counts +0.5 from a baseline of 5.5 (smoulder's default is the consensus 6.0)
status <- system2(smoulder, c(
  "progression", file.path(work, "visits.csv"),
  "--subject-col", "id", "--value-col", "EDSS", "--outcome", "edss",
  "--relapses", file.path(work, "relapses.csv"),
  "--edss-half-step-from", "5.5",
  "--out", file.path(work, "events.csv"), "--no-plots", "--quiet"
), env = "LD_LIBRARY_PATH=")  # R puts its own library folders first; Python needs its own
if (status != 0) stop("smoulder progression failed with status ", status)

# 3. read the outputs: ids as text, empty cells as NA, true/false as logical, ISO dates as Date
#    (base R 4.2 keeps lower-case true/false as text unless colClasses says "logical")
events <- read.csv(file.path(work, "events.csv"), na.strings = c("", "NA"),
                   colClasses = c(subject = "character", pirma = "logical",
                                  sustained_to_last = "logical", imputed = "logical"))
summary <- read.csv(file.path(work, "events_summary.csv"), colClasses = c(subject = "character"),
                    na.strings = c("", "NA"))
events$event_date <- as.Date(events$event_date)

# 4. msprog's results table from smoulder's two tables
tab <- merge(summary[, c("subject", "follow_up_days")],
             events[, c("subject", "nevent", "event_type", "baseline_to_event_days",
                        "time_to_event_days", "sustained_days", "sustained_to_last")],
             by = "subject", all.x = TRUE)
stable <- is.na(tab$nevent)
smoulder_results <- data.frame(
  id = tab$subject,
  nevent = ifelse(stable, 0, tab$nevent),
  event_type = ifelse(stable, "", tab$event_type),
  total_fu = tab$follow_up_days,
  bl2event = ifelse(stable, NaN, tab$baseline_to_event_days),
  time2event = ifelse(stable, tab$follow_up_days, tab$time_to_event_days),
  sust_days = ifelse(stable, NaN, tab$sustained_days),
  sust_last = ifelse(stable, FALSE, tab$sustained_to_last)
)
smoulder_results <- smoulder_results[order(as.numeric(smoulder_results$id)), ]
rownames(smoulder_results) <- NULL
print(smoulder_results)

# 5. the same analysis in msprog, as the vignette runs it
output_edss <- MSprog(data = toydata_visits, subj_col = "id", value_col = "EDSS",
                      date_col = "date", outcome = "edss", relapse = toydata_relapses,
                      verbose = 0)
msprog_results <- as.data.frame(output_edss$results)
msprog_results$id <- as.character(msprog_results$id)
cols <- names(smoulder_results)
same <- isTRUE(all.equal(smoulder_results[, cols], msprog_results[, cols],
                         check.attributes = FALSE))
cat("identical to msprog's results table:", same, "\n")
quit(status = if (same) 0 else 1)
