// SPDX-License-Identifier: MIT
// End-to-end tests of the motor noise families (docs/families.md): simulate --motor/--offset ->
// infer --motor/--offset round trips (the parameters and the recorded settings), a network trained
// for one motor model refused by infer and evaluate for another, and the errors of the options.
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace fs = std::filesystem;
using bactor::testing::Result;
using bactor::testing::read_text;
using bactor::testing::run_bactor;

namespace {
fs::path scratch(const std::string& name) { return bactor::testing::scratch_path("bactor_cli_motor_", name); }
} // namespace

TEST_CASE("cli motor: simulate -> infer round trip with gaussian motor noise and an offset (closed form)") {
  const fs::path dir = scratch("roundtrip");
  fs::create_directories(dir);
  const std::string data = (dir / "g.csv").string();
  Result s = run_bactor("simulate --cost QuadraticCost --motor gaussian --offset --set mu_0=1.5,sigma_0=0.2,sigma=0.2,sigma_a=0.1,"
                     "offset=0.2 --trials 150 --stimuli 0.5:6 --seed 4 --out " + data);
  INFO(s.out);
  REQUIRE(s.code == 0);
  CHECK(s.out.find("motor noise gaussian+offset") != std::string::npos);
  Result f = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --motor gaussian --offset --fix sigma=0.2,sigma_0=0.2 "
                     "--chains 2 --warmup 300 --samples 300 --seed 2 --out " + (dir / "fit").string());
  INFO(f.out);
  REQUIRE(f.code == 0);
  const std::string summary = read_text(dir / "fit" / "summary.csv");
  CHECK(summary.find("sigma_a") != std::string::npos);
  CHECK(summary.find("offset") != std::string::npos);
  CHECK(summary.find("sigma_r") == std::string::npos);  // not a parameter of the gaussian model
  const std::string chain = read_text(dir / "fit" / "chain-1.csv");
  CHECK(chain.find("motor = gaussian+offset") != std::string::npos);
  // The same data fitted as log-normal: another model, other parameters.
  Result l = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 1 --warmup 100 "
                     "--samples 100 --out " + (dir / "fit_ln").string());
  REQUIRE(l.code == 0);
  CHECK(read_text(dir / "fit_ln" / "summary.csv").find("sigma_a") == std::string::npos);
}

TEST_CASE("cli motor: a network records its motor model; infer and evaluate refuse another") {
  const fs::path dir = scratch("network");
  fs::create_directories(dir);
  const std::string net = (dir / "gen.safetensors").string();
  Result t = run_bactor("train --cost QuadraticCost --motor generalized --steps 30 --batch 32 --eval-points 16 --threads 1 --out " + net);
  INFO(t.out);
  REQUIRE(t.code == 0);
  CHECK(t.out.find("generalized motor noise") != std::string::npos);
  const std::string data = (dir / "d.csv").string();
  REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.2,sigma=0.2,sigma_r=0.1 --trials 20 --out " + data).code == 0);
  Result bad = run_bactor("infer --data " + data + " --network " + net + " --chains 1 --warmup 10 --samples 10 --out " +
                       (dir / "fit").string());
  INFO(bad.out);
  CHECK(bad.code == 2);
  CHECK(bad.out.find("--network: was trained for generalized motor noise, not lognormal") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "fit" / "chain-1.csv"));
  Result ok = run_bactor("infer --data " + data + " --network " + net + " --motor generalized --chains 1 --warmup 20 --samples 20 --out " +
                      (dir / "fit2").string());
  INFO(ok.out);
  CHECK(ok.code == 0);
  CHECK(read_text(dir / "fit2" / "summary.csv").find("sigma_a") != std::string::npos);
  Result ev = run_bactor("evaluate --network " + net + " --points 20 --motor gaussian");
  CHECK(ev.code == 2);
  CHECK(ev.out.find("trained for generalized motor noise") != std::string::npos);
  Result ev2 = run_bactor("evaluate --network " + net + " --points 20");
  CHECK(ev2.code == 0);
  CHECK(ev2.out.find("generalized motor noise") != std::string::npos);
}

TEST_CASE("cli motor: evaluate scales a gaussian-motor network's errors by |a*| + sigma_a too") {
  const fs::path dir = scratch("evaluate_gaussian");
  fs::create_directories(dir);
  const std::string net = (dir / "g.safetensors").string();
  REQUIRE(run_bactor("train --cost QuadraticCost --motor gaussian --steps 30 --batch 32 --eval-points 16 --threads 1 --out " + net)
              .code == 0);
  Result ev = run_bactor("evaluate --network " + net + " --points 40");
  INFO(ev.out);
  REQUIRE(ev.code == 0);
  auto field = [&](const std::string& key) {
    const std::size_t at = ev.out.find(" " + key + "=");
    REQUIRE(at != std::string::npos);
    return std::stod(ev.out.substr(at + key.size() + 2));
  };
  // |a - a*| / (|a*| + sigma_a) <= |a - a*| / a* for every point kept (a* > 0).
  CHECK(field("max_motor_scaled_error") <= field("max_rel_error"));
  CHECK(field("mean_motor_scaled_error") < field("mean_rel_error"));
  CHECK(field("mean_motor_scaled_error") > 0);
}

TEST_CASE("cli motor: bad options are usage errors naming the option") {
  const fs::path dir = scratch("errors");
  fs::create_directories(dir);
  Result a = run_bactor("simulate --cost QuadraticCost --motor normal --set mu_0=1,sigma_0=0.2,sigma=0.2,sigma_r=0.1 --out " +
                     (dir / "a.csv").string());
  CHECK(a.code == 2);
  CHECK(a.out.find("--motor") != std::string::npos);
  Result b = run_bactor("simulate --cost QuadraticCost --motor gaussian --set mu_0=1,sigma_0=0.2,sigma=0.2,sigma_r=0.1,sigma_a=0.1 --out " +
                     (dir / "b.csv").string());
  CHECK(b.code == 2);
  CHECK(b.out.find("'sigma_r' is not part of the gaussian motor model") != std::string::npos);
  Result c = run_bactor("simulate --cost QuadraticCost --offset --set mu_0=1,sigma_0=0.2,sigma=0.2,sigma_r=0.1 --out " +
                     (dir / "c.csv").string());
  CHECK(c.code == 2);
  CHECK(c.out.find("missing value for parameter 'offset'") != std::string::npos);
  const std::string data = (dir / "d.csv").string();
  REQUIRE(run_bactor("simulate --cost QuadraticCost --set mu_0=1.5,sigma_0=0.2,sigma=0.2,sigma_r=0.1 --trials 20 --out " + data).code == 0);
  Result d = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --motor generalized --out " + (dir / "f").string());
  CHECK(d.code == 2);
  CHECK(d.out.find("--motor: cost QuadraticCost has no closed-form action under generalized motor noise") != std::string::npos);
  // Sampled latents, lapses and the exact action work with motor models (no longer refused).
  Result e = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --motor gaussian --latent sampled --lapse "
                        "--chains 1 --warmup 50 --samples 20 --out " + (dir / "g").string());
  CHECK(e.code == 0);
}

TEST_CASE("cli motor: an offset that no chain can start below the smallest response is refused, naming the trial") {
  // Issue #23: data simulated by bactor itself (--offset, stimuli down to 0.02, S = 2) could not
  // be fitted with --offset: every chain starts the offset at S e^-2 = 0.28 or above, above the
  // smallest response (0.078), and NUTS failed after 100 attempts with exit 1 ("check the model").
  const fs::path dir = scratch("offset_start");
  fs::create_directories(dir);
  const std::string data = (dir / "off.csv").string();
  REQUIRE(run_bactor("simulate --cost QuadraticCost --offset --set mu_0=1.5,sigma_0=0.8,sigma=0.2,sigma_r=0.1,offset=0.01 "
                     "--stimuli 0.02:5 --trials 100 --seed 4 --out " + data).code == 0);
  const std::string fit = "infer --data " + data + " --cost QuadraticCost --closed-form --offset --chains 2 --warmup 100 "
                          "--samples 100 --threads 1 --out ";
  Result bad = run_bactor(fit + (dir / "bad").string());
  INFO(bad.out);
  CHECK(bad.code == 2);
  CHECK(bad.out.find("--offset: " + data + ":39: the smallest response, r = 0.0777451") != std::string::npos);
  CHECK(bad.out.find("--prior offset=uniform:0:0.0777451") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "bad"));  // nothing written
  // The remedy the message names fits (the truth, 0.01, inside the posterior).
  Result good = run_bactor(fit + (dir / "good").string() + " --prior offset=uniform:0:0.0777");
  INFO(good.out);
  CHECK(good.code == 0);
  // With lapses such a response is a lapse, and the chains start as before.
  CHECK(run_bactor(fit + (dir / "lapse").string() + " --lapse").code == 0);
}

TEST_CASE("cli motor: a response code (99999999) in data of any sign is refused, as under log-normal noise") {
  // Issue #23: the r/s rule (a trial's r/s within 1e-6..1e6) caught a code for a missing response
  // under log-normal motor noise only. Under --motor gaussian (responses of any sign) the same
  // file was fitted with exit 0 and sigma_0 2.7 for a truth of 0.2; under --perception gaussian a
  // response of 1e99 froze the chain (sd 1e-15) and a stimulus of 1e99 gave mu_0 = -2e93.
  const fs::path dir = scratch("codes");
  fs::create_directories(dir);
  const std::string gm = (dir / "gm.csv").string(), lin = (dir / "lin.csv").string();
  REQUIRE(run_bactor("simulate --cost QuadraticCost --motor gaussian --set mu_0=1.5,sigma_0=0.2,sigma=0.2,sigma_a=0.3 "
                     "--trials 60 --stimuli 0.1:2 --seed 3 --out " + gm).code == 0);
  REQUIRE(run_bactor("simulate --cost QuadraticCost --perception gaussian --motor gaussian --set mu_0=-1,sigma_0=0.8,"
                     "sigma=0.6,sigma_a=0.3 --stimuli=-4:3 --trials 60 --seed 3 --out " + lin).code == 0);
  const auto with_row = [&](const std::string& from, const std::string& name, const std::string& row) {
    const std::string path = (dir / name).string();
    std::ofstream(path) << bactor::testing::read_text(from) << row << "\n";
    return path;
  };
  const std::string fit = " --cost QuadraticCost --closed-form --motor gaussian --chains 1 --warmup 50 --samples 50 --out ";
  const std::string a = with_row(gm, "gm_code.csv", "1.0,99999999");
  Result ra = run_bactor("infer --data " + a + fit + (dir / "fa").string());
  INFO(ra.out);
  CHECK(ra.code == 2);
  CHECK(ra.out.find(a + ":62: column 'r': response 99999999 is ") != std::string::npos);
  CHECK(ra.out.find("a code for a missing response, or another unit?") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "fa"));
  const std::string b = with_row(lin, "lin_code.csv", "1.0,1e99");
  Result rb = run_bactor("infer --data " + b + fit + (dir / "fb").string() + " --perception gaussian");
  INFO(rb.out);
  CHECK(rb.code == 2);
  CHECK(rb.out.find(b + ":62: column 'r': response 1e+99 is ") != std::string::npos);
  const std::string c = with_row(lin, "lin_stim.csv", "1e99,1.0");
  Result rc = run_bactor("infer --data " + c + fit + (dir / "fc").string() + " --perception gaussian");
  INFO(rc.out);
  CHECK(rc.code == 2);
  CHECK(rc.out.find(c + ":62: column 's': stimulus 1e+99 is ") != std::string::npos);
  // The files without the extra row fit as before.
  CHECK(run_bactor("infer --data " + lin + fit + (dir / "fd").string() + " --perception gaussian").code == 0);
}

TEST_CASE("cli motor: --per-condition takes the motor model's parameters (sigma_a), and names them when refusing") {
  // Issue #23: simulate --conditions sigma_a=... wrote data that infer --per-condition sigma_a
  // refused, listing sigma_r (which the gaussian model lacks) and not sigma_a.
  const fs::path dir = scratch("per_condition_sigma_a");
  fs::create_directories(dir);
  const std::string data = (dir / "a.csv").string();
  REQUIRE(run_bactor("simulate --cost QuadraticCost --motor gaussian --conditions sigma_a=0.1,0.4 --set mu_0=1.5,sigma_0=0.2,"
                     "sigma=0.2 --trials 150 --stimuli 0.5:4 --seed 2 --out " + data).code == 0);
  const std::string fit = "infer --data " + data + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 2 --warmup 300 "
                          "--samples 300 --threads 1 --out ";
  Result r = run_bactor(fit + (dir / "fit").string() + " --motor gaussian --per-condition sigma_a");
  INFO(r.out);
  REQUIRE(r.code == 0);
  const auto rows = bactor::testing::read_csv(dir / "fit" / "summary.csv");
  std::map<std::string, std::pair<double, double>> q;  // 5% and 95%
  for (const auto& row : rows) q[row.at("name")] = {std::stod(row.at("q5")), std::stod(row.at("q95"))};
  REQUIRE(q.count("sigma_a.1"));
  REQUIRE(q.count("sigma_a.2"));
  CHECK(q["sigma_a.1"].first < 0.1);
  CHECK(q["sigma_a.1"].second > 0.1);
  CHECK(q["sigma_a.2"].first < 0.4);
  CHECK(q["sigma_a.2"].second > 0.4);
  Result bad = run_bactor(fit + (dir / "bad").string() + " --motor gaussian --per-condition sigma_r");
  CHECK(bad.code == 2);
  CHECK(bad.out.find("--per-condition: unknown parameter 'sigma_r' for cost QuadraticCost with motor noise gaussian (known: "
                     "sigma, sigma_0, mu_0, sigma_a)") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "bad"));
}

TEST_CASE("cli motor: simulate --subjects --offset shifts every subject's responses and says so") {
  // Issue #23: docs/commands.md said --offset was not for --subjects, while simulate took it; the
  // cohort's line named no motor model. The same seed without the offset: every r 0.5 lower.
  const fs::path dir = scratch("cohort_offset");
  fs::create_directories(dir);
  const std::string with = (dir / "o.csv").string(), without = (dir / "n.csv").string();
  const std::string sim = "simulate --cost QuadraticCost --subjects 3 --trials 5 --seed 1 --set mu_0=1.5,sigma_0=0.2,sigma=0.2,sigma_r=0.1";
  Result o = run_bactor(sim + ",offset=0.5 --offset --out " + with);
  INFO(o.out);
  REQUIRE(o.code == 0);
  CHECK(o.out.find("wrote 15 trials of 3 subjects (action: closed-form, motor noise lognormal+offset, seed 1)") != std::string::npos);
  Result n = run_bactor(sim + " --out " + without);
  REQUIRE(n.code == 0);
  CHECK(n.out.find("(action: closed-form, seed 1)") != std::string::npos);
  const auto a = bactor::testing::read_csv(with), b = bactor::testing::read_csv(without);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(std::stod(a[i].at("r")) - std::stod(b[i].at("r")) == doctest::Approx(0.5));
}
