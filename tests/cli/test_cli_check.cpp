// SPDX-License-Identifier: MIT
// bactor check end to end: coverage of the 90% predictive intervals on data from the fitted
// model, the flag on data with another noise than fitted, discrete stimuli and conditions,
// subjects, bad input; von Mises fits (circular statistics) and gaussian motor noise (statistics of
// r itself).
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

using ::bactor::testing::Result;
using ::bactor::testing::read_csv;
using ::bactor::testing::run_bactor;

fs::path scratch(const std::string& name) { return ::bactor::testing::scratch_path("bactor_cli_check_", name); }


} // namespace

TEST_CASE("cli check: 90% intervals cover about 90% on data from the fitted model") {
  // 8 data sets x 160 trials from QuadraticCost, each fitted with the same cost (sigma fixed at
  // its true value) and checked with 8 stimulus bins: 8 x (8 means + 8 sds + 1 slope) = 136
  // intervals. Criterion: coverage within 3 binomial sd of 0.9 (0.9 +- 0.077). Posterior-
  // predictive intervals are slightly conservative (the data informed the posterior): with these
  // seeds 129 of 136 are covered (0.949). No data set is flagged.
  const fs::path dir = scratch("coverage");
  fs::create_directories(dir);
  std::size_t total = 0, covered = 0, flagged = 0;
  for (int seed = 1; seed <= 8; ++seed) {
    const std::string s = std::to_string(seed);
    const fs::path data = dir / ("d" + s + ".csv"), fit = dir / ("fit" + s), out = dir / ("check" + s + ".csv");
    REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 160 --seed " + s +
                       " --out " + data.string()).code == 0);
    REQUIRE(run_bactor("infer --data " + data.string() + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 2 --warmup 300 "
                       "--samples 500 --seed " + s + " --out " + fit.string()).code == 0);
    Result c = run_bactor("check " + fit.string() + " --out " + out.string());
    INFO(c.out);
    REQUIRE(c.code == 0);
    flagged += c.out.find("WARNING") != std::string::npos;
    const auto rows = read_csv(out);
    CHECK(rows.size() == 17);
    for (const auto& r : rows) {
      ++total;
      covered += r.at("outside") == "0";
      const double lo = std::stod(r.at("pred_q5")), mid = std::stod(r.at("pred_median")), hi = std::stod(r.at("pred_q95"));
      CHECK(lo <= mid);
      CHECK(mid <= hi);
      CHECK((r.at("outside") == "1") == (std::stod(r.at("observed")) < lo || std::stod(r.at("observed")) > hi));
    }
  }
  const double cov = double(covered) / double(total), tol = 3 * std::sqrt(0.9 * 0.1 / double(total));
  MESSAGE("coverage of the 90% predictive intervals: " << covered << " of " << total << " = " << cov);
  CHECK(total == 136);
  CHECK(std::fabs(cov - 0.9) <= tol);
  CHECK(flagged == 0);
}

TEST_CASE("cli check: data with more motor noise than fitted is flagged") {
  // Simulated with sigma_r = 0.3, fitted with sigma_r fixed at 0.1: the sd of log r is too small
  // in the predictions; the check must warn about the sd (noise misfit), most sd bins outside.
  const fs::path dir = scratch("noise");
  fs::create_directories(dir);
  const fs::path data = dir / "noisy.csv";
  REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.3 --trials 200 --seed 8 --out " +
                     data.string()).code == 0);
  REQUIRE(run_bactor("infer --data " + data.string() + " --cost QuadraticCost --closed-form --fix sigma=0.2,sigma_r=0.1 --chains 2 "
                     "--warmup 300 --samples 500 --out " + (dir / "fit").string()).code == 0);
  Result c = run_bactor("check " + (dir / "fit").string() + " --out " + (dir / "check.csv").string());
  INFO(c.out);
  REQUIRE(c.code == 0);
  CHECK(c.out.find("WARNING: the sd of log r") != std::string::npos);
  CHECK(c.out.find("vary more than the fitted actor predicts") != std::string::npos);
  std::size_t sd_above = 0, sd_rows = 0;
  for (const auto& r : read_csv(dir / "check.csv"))
    if (r.at("stat") == "sd_log_r") {
      ++sd_rows;
      sd_above += std::stod(r.at("observed")) > std::stod(r.at("pred_q95"));
    }
  CHECK(sd_rows == 8);
  CHECK(sd_above >= 6);
  // The same data fitted with sigma_r free: no sd warning.
  REQUIRE(run_bactor("infer --data " + data.string() + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 2 "
                     "--warmup 300 --samples 500 --out " + (dir / "free").string()).code == 0);
  Result f = run_bactor("check " + (dir / "free").string());
  INFO(f.out);
  CHECK(f.code == 0);
  CHECK(f.out.find("WARNING: the sd of log r") == std::string::npos);
}

TEST_CASE("cli check: discrete stimuli, conditions, subjects, --data, bad input") {
  const fs::path dir = scratch("discrete");
  fs::create_directories(dir);
  // Discrete stimuli (5 values x 2 conditions x 2 subjects, 6 repeats), responses r = s^0.8.
  std::string csv = "subject,cond,s,r\n";
  const double svals[] = {0.5, 1.0, 2.0, 3.0, 4.0};
  unsigned x = 12345;
  for (int subj = 1; subj <= 2; ++subj)
    for (const char* cond : {"low", "high"})
      for (int rep = 0; rep < 6; ++rep)
        for (double s : svals) {
          x = x * 1103515245u + 12345u;
          const double u = double((x >> 8) % 1000) / 1000.0 - 0.5;
          std::ostringstream row;
          row.precision(17);
          row << subj << "," << cond << "," << s << "," << std::pow(s, 0.8) * std::exp(0.2 * u) << "\n";
          csv += row.str();
        }
  const fs::path data = dir / "data.csv";
  std::ofstream(data) << csv;
  REQUIRE(run_bactor("infer --data " + data.string() + " --cost QuadraticCost --closed-form --chains 2 --warmup 200 --samples 200 --out " +
                     (dir / "fit").string()).code == 0);
  Result c = run_bactor("check " + (dir / "fit").string() + " --out " + (dir / "check.csv").string());
  INFO(c.out);
  REQUIRE(c.code == 0);
  CHECK(c.out.find("subject 2, condition high") != std::string::npos);
  const auto rows = read_csv(dir / "check.csv");
  // Per subject and condition: 5 stimulus values x (mean, sd) + slope.
  CHECK(rows.size() == 2 * 2 * 11);
  std::size_t one_value_bins = 0;
  for (const auto& r : rows)
    if (r.at("stat") == "mean_log_r") {
      CHECK(r.at("n") == "6");
      one_value_bins += r.at("s_lo") == r.at("s_hi");
    }
  CHECK(one_value_bins == 20);
  // --data names the file explicitly; a file with other trials is refused.
  CHECK(run_bactor("check " + (dir / "fit").string() + " --data " + data.string()).code == 0);
  const fs::path other = dir / "other.csv";
  REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 7 --seed 1 --out " +
                     other.string()).code == 0);
  Result bad = run_bactor("check " + (dir / "fit").string() + " --data " + other.string());
  CHECK(bad.code == 2);
  CHECK(bad.out.find("no trials of subject") != std::string::npos);
  bad = run_bactor("check " + (dir / "fit").string() + " --bins 0");
  CHECK(bad.code == 2);
  bad = run_bactor("check " + (dir / "nosuch").string());
  CHECK(bad.code == 2);
  // A single fit with the wrong data: the trial count is checked.
  REQUIRE(run_bactor("infer --data " + other.string() + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 2 --warmup 100 "
                     "--samples 100 --out " + (dir / "small").string()).code == 0);
  bad = run_bactor("check " + (dir / "small").string() + " --data " + (dir / "noisy.csv").string());
  CHECK(bad.code == 2);
  const fs::path d30 = dir / "d30.csv";
  REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma=0.2,sigma_r=0.1 --trials 30 --seed 1 --out " +
                     d30.string()).code == 0);
  bad = run_bactor("check " + (dir / "small").string() + " --data " + d30.string());
  CHECK(bad.code == 2);
  CHECK(bad.out.find("fitted to 7 trials") != std::string::npos);
}

TEST_CASE("cli check and report: data with its own column names (the map the fit records)") {
  const fs::path dir = scratch("columns");
  fs::create_directories(dir);
  const fs::path std_data = dir / "std.csv", own = dir / "own.csv";
  REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.15,sigma_r=0.1 --conditions sigma=0.1,0.2 --trials 40 "
                     "--seed 5 --out " + std_data.string()).code == 0);
  {
    std::ifstream in(std_data);
    std::ofstream o(own);
    std::string line;
    std::getline(in, line);
    REQUIRE(line == "cond,s,r");
    o << "block,duration,reproduction\n";
    while (std::getline(in, line)) o << line << "\n";
  }
  const fs::path fit = dir / "fit";
  REQUIRE(run_bactor("infer --data " + own.string() + " --columns s=duration,r=reproduction,cond=block --cost QuadraticCost "
                     "--closed-form --chains 2 --warmup 200 --samples 200 --out " + fit.string()).code == 0);
  // The recorded map is used: no --columns needed, with the recorded or an explicit data file.
  Result c = run_bactor("check " + fit.string() + " --out " + (dir / "check.csv").string());
  INFO(c.out);
  REQUIRE(c.code == 0);
  CHECK(c.out.find("condition 2") != std::string::npos);
  CHECK(read_csv(dir / "check.csv").size() == 2 * 17);
  CHECK(run_bactor("check " + fit.string() + " --data " + own.string()).code == 0);
  // The standard-named file needs the standard map given explicitly.
  CHECK(run_bactor("check " + fit.string() + " --data " + std_data.string() + " --columns s=s,r=r,cond=cond").code == 0);
  Result bad = run_bactor("check " + fit.string() + " --data " + std_data.string());
  CHECK(bad.code == 2);
  CHECK(bad.out.find("missing column 'duration'") != std::string::npos);
  // The user gave no --columns: the message does not blame it, and says where the map came from.
  CHECK(bad.out.find("error: --columns") == std::string::npos);
  CHECK(bad.out.find("read with the column map the fit records, s=duration") != std::string::npos);
  bad = run_bactor("check " + fit.string() + " --columns stim=duration");
  CHECK(bad.code == 2);
  CHECK(bad.out.find("--columns") != std::string::npos);
  Result r = run_bactor("report " + fit.string() + " --out " + (dir / "r.html").string());
  INFO(r.out);
  REQUIRE(r.code == 0);
  std::ifstream html(dir / "r.html");
  std::stringstream ss;
  ss << html.rdbuf();
  CHECK(ss.str().find("data-kind=\"check-mean\"") != std::string::npos);
}

namespace {

/// `infer` (QuadraticCost closed form, `model` options, `--fix FIX`, 2 x (300 + 300) draws) of
/// `data` into dir/NAME, then `check` of that fit into dir/NAME.csv; both must exit 0.
Result fit_then_check(const fs::path& dir, const std::string& data, const std::string& model, const std::string& name,
                      const std::string& fix) {
  const fs::path fit = dir / name;
  Result f = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form " + model + " --fix " + fix +
                        " --chains 2 --warmup 300 --samples 300 --seed 3 --out " + fit.string());
  INFO(f.out);
  REQUIRE(f.code == 0);
  Result c = run_bactor("check " + fit.string() + " --out " + (dir / (name + ".csv")).string());
  INFO(c.out);
  REQUIRE(c.code == 0);
  return c;
}

} // namespace

TEST_CASE("cli check: von Mises fits (angles): circular statistics of the wrapped error, clean and misfit") {
  // 400 angles with the prior's mean near the seam at pi (responses wrap across it), fitted with
  // the generating model (sigma fixed at its truth): the circular mean and sd of d = wrap(r - s)
  // per bin and the slope of d on the stimulus's wrapped offset stay inside their intervals at a
  // well-fitting model's rate (no WARNING: at most the binomial(M, 0.1) 99% quantile outside, and
  // no slope with predictive p below 0.005 or above 0.995). The same data fitted with sigma_r
  // fixed at three times its truth: the circular sd is predicted too large (noise misfit), and
  // with mu_0 fixed on the far side of the circle the means and the slope are off.
  const fs::path dir = scratch("circular");
  fs::create_directories(dir);
  const std::string data = (dir / "vm.csv").string();
  REQUIRE(run_bactor("simulate --perception vonmises --cost QuadraticCost --set mu_0=2.8,sigma_0=0.5,sigma=0.2,sigma_r=0.1 "
                     "--trials 400 --seed 5 --out " + data).code == 0);
  auto fit_and_check = [&](const std::string& name, const std::string& fix) {
    return fit_then_check(dir, data, "--perception vonmises", name, fix);
  };
  {
    const Result c = fit_and_check("fit", "sigma=0.2");
    INFO(c.out);
    CHECK(c.out.find("circ. mean d: observed") != std::string::npos);
    CHECK(c.out.find("nan") == std::string::npos);
    CHECK(c.out.find("WARNING") == std::string::npos);
    const auto rows = read_csv(dir / "fit.csv");
    CHECK(rows.size() == 17);  // 8 bins x (circular mean, circular sd) + the slope
    std::size_t outside = 0;
    for (const auto& r : rows) {
      CHECK((r.at("stat") == "cmean_d" || r.at("stat") == "csd_d" || r.at("stat") == "slope"));
      outside += r.at("outside") == "1";
      const double lo = std::stod(r.at("pred_q5")), hi = std::stod(r.at("pred_q95")), obs = std::stod(r.at("observed"));
      CHECK(lo <= hi);
      if (r.at("stat") == "cmean_d") CHECK(hi - lo < 1.0);  // one interval, not one split by the seam
      CHECK((r.at("outside") == "1") == (obs < lo || obs > hi));
    }
    CHECK(outside <= 4);  // binomial(17, 0.1)'s 99% quantile
    // The report's predictive section shows the same circular statistics.
    Result rep = run_bactor("report " + (dir / "fit").string() + " --out " + (dir / "report.html").string());
    INFO(rep.out);
    REQUIRE(rep.code == 0);
    const std::string html = ::bactor::testing::read_text(dir / "report.html");
    CHECK(html.find("circular sd of the error d = wrap(r - s) by stimulus") != std::string::npos);
    CHECK(html.find("No predictive check") == std::string::npos);
  }
  {
    const Result c = fit_and_check("noisy", "sigma=0.2,sigma_r=0.3");
    CHECK(c.out.find("WARNING: the circular sd of the error r - s") != std::string::npos);
    CHECK(c.out.find("vary less than the fitted actor predicts") != std::string::npos);
  }
  {
    const Result c = fit_and_check("mu0", "sigma=0.2,mu_0=0");
    CHECK(c.out.find("WARNING: the circular mean of the error r - s") != std::string::npos);
  }
}

TEST_CASE("cli check: gaussian motor noise under log-normal perception (responses <= 0): statistics of r") {
  // r ~ N(a, sigma_a^2) with sigma_a = 0.4 gives some responses <= 0, where log r does not
  // exist: the check uses mean_r, sd_r and the slope of r on s, as under gaussian perception.
  // Fitted with the generating model: no WARNING and no NaN; with sigma_a fixed at 0.1: the sd
  // of r is flagged (noise misfit).
  const fs::path dir = scratch("gaussian_motor");
  fs::create_directories(dir);
  const std::string data = (dir / "g.csv").string();
  REQUIRE(run_bactor("simulate --cost QuadraticCost --motor gaussian --set mu_0=1.5,sigma_0=0.2,sigma=0.2,sigma_a=0.4 "
                     "--trials 300 --seed 4 --out " + data).code == 0);
  std::size_t nonpositive = 0;
  for (const auto& r : read_csv(data)) nonpositive += std::stod(r.at("r")) <= 0;
  REQUIRE(nonpositive > 0);
  auto fit_and_check = [&](const std::string& name, const std::string& fix) {
    return fit_then_check(dir, data, "--motor gaussian", name, fix);
  };
  const Result good = fit_and_check("fit", "sigma=0.2");
  INFO(good.out);
  CHECK(good.out.find("nan") == std::string::npos);
  CHECK(good.out.find("mean r: observed") != std::string::npos);
  CHECK(good.out.find("slope of r on s") != std::string::npos);
  CHECK(good.out.find("WARNING") == std::string::npos);
  const auto rows = read_csv(dir / "fit.csv");
  CHECK(rows.size() == 17);
  for (const auto& r : rows) {
    CHECK((r.at("stat") == "mean_r" || r.at("stat") == "sd_r" || r.at("stat") == "slope"));
    CHECK(std::isfinite(std::stod(r.at("observed"))));
  }
  const Result bad = fit_and_check("narrow", "sigma=0.2,sigma_a=0.1");
  CHECK(bad.out.find("WARNING: the sd of r") != std::string::npos);
  CHECK(bad.out.find("vary more than the fitted actor predicts") != std::string::npos);
}
