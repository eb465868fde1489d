# Run MSoutcomes' spmsDx on a visits CSV (MSoutcomes layout) and write its per-patient table.
# Usage: Rscript _spmsdx_runner.R LIB IN.csv OUT.csv [minEDSS minFSpyr tRelapse tProgression tRegression tRelProg]
# With IN.csv = "SampleData", the package's own SampleData is used (written to OUT.csv's folder
# as sampledata.csv so that the other tool reads exactly the same rows). Prints the seconds
# spmsDx took (without R's start-up).
args <- commandArgs(trailingOnly = TRUE)
.libPaths(c(args[1], .libPaths()))
suppressPackageStartupMessages(library(MSoutcomes))
if (args[2] == "SampleData") {
  data(SampleData)
  visits <- SampleData
  write.csv(visits, file.path(dirname(args[3]), "sampledata.csv"), row.names = FALSE, na = "")
} else {
  visits <- read.csv(args[2], stringsAsFactors = FALSE)
}
p <- list(minEDSS = 4, minFSpyr = 2, tRelapse = 30, tProgression = 3 * 30.25,
          tRegression = 9 * 30.25, tRelProg = 6 * 30.25)
if (length(args) >= 9) {
  v <- as.numeric(args[4:9])
  p <- list(minEDSS = v[1], minFSpyr = v[2], tRelapse = v[3], tProgression = v[4],
            tRegression = v[5], tRelProg = v[6])
}
t0 <- proc.time()[["elapsed"]]
out <- suppressMessages(suppressWarnings(do.call(spmsDx, c(list(visits), p))))
t1 <- proc.time()[["elapsed"]]
out$date.SPMS <- format(out$date.SPMS, "%Y-%m-%d")
write.csv(out, args[3], row.names = FALSE, na = "")
cat(sprintf("%.3f\n", t1 - t0))
