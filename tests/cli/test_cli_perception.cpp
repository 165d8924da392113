// SPDX-License-Identifier: MIT
// End-to-end tests of the perception families (docs/families.md, "Perception"): the
// --perception option of train, simulate, infer and evaluate, what networks and fits record, the
// refusals (an unknown name, vonmises data beyond pi, a network trained for another), a
// gaussian-perception round trip simulate -> infer -> summary -> check with negative stimuli and
// responses, one with a cost that is not a function of r - s (the exact action), and a vonmises round trip with an asymmetric formula cost's parameter and lapses.
#include "tests/cli/cli_util.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;
using bactor::testing::Result;
using bactor::testing::read_text;
using bactor::testing::run_bactor;

namespace {
fs::path scratch(const std::string& name) { return bactor::testing::scratch_path("bactor_cli_perception_", name); }
const std::string lognormal_set = "--set mu_0=1.5,sigma_0=0.2,sigma=0.2,sigma_r=0.1";
} // namespace

TEST_CASE("cli perception: option parsing, unknown names, what vonmises refuses") {
  const fs::path dir = scratch("parse");
  fs::create_directories(dir);
  const std::string data = (dir / "d.csv").string();
  Result bad = run_bactor("simulate --cost QuadraticCost --perception normal " + lognormal_set + " --out " + data);
  CHECK(bad.code == 2);
  CHECK(bad.out.find("--perception") != std::string::npos);
  CHECK_FALSE(fs::exists(data));
  // lognormal (the default) given explicitly: the same as without the option.
  Result ok = run_bactor("simulate --cost QuadraticCost --perception lognormal " + lognormal_set + " --trials 20 --out " + data);
  INFO(ok.out);
  REQUIRE(ok.code == 0);
  // vonmises (tests/cli/test_cli_circular.cpp has its round trip): positive data beyond pi are
  // refused as angles, and there is no network to train.
  Result i = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --perception vonmises --out " + (dir / "f").string());
  CHECK(i.code == 2);
  CHECK(i.out.find("is outside (-pi, pi]") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "f" / "chain-1.csv"));
  Result t = run_bactor("train --cost QuadraticCost --perception vonmises --steps 5 --out " + (dir / "n.safetensors").string());
  CHECK(t.code == 2);
  CHECK(t.out.find("no network to train") != std::string::npos);
  // Hierarchical fits take vonmises too (tests/cli/test_cli_hierarchical.cpp); these data are no angles.
  Result h = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --hierarchical --perception vonmises --out " +
                        (dir / "h").string());
  CHECK(h.code == 2);
  CHECK(h.out.find("is outside (-pi, pi]") != std::string::npos);
}

TEST_CASE("cli perception: a network and a fit record their perception model") {
  const fs::path dir = scratch("record");
  fs::create_directories(dir);
  const std::string net = (dir / "q.safetensors").string();
  Result t = run_bactor("train --cost QuadraticCost --steps 20 --batch 32 --eval-points 16 --threads 1 --out " + net);
  INFO(t.out);
  REQUIRE(t.code == 0);
  CHECK(read_text(net).find("\"perception\":\"lognormal\"") != std::string::npos);
  Result ev = run_bactor("evaluate --network " + net + " --points 10 --perception vonmises");
  CHECK(ev.code == 2);
  CHECK(ev.out.find("--perception") != std::string::npos);
  const std::string data = (dir / "d.csv").string();
  REQUIRE(run_bactor("simulate --cost QuadraticCost " + lognormal_set + " --trials 20 --out " + data).code == 0);
  Result f = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --fix sigma=0.2 --chains 1 --warmup 30 "
                        "--samples 30 --out " + (dir / "fit").string());
  INFO(f.out);
  REQUIRE(f.code == 0);
  CHECK(read_text(dir / "fit" / "chain-1.csv").find("perception = lognormal") != std::string::npos);
}

TEST_CASE("cli perception: gaussian round trip with negative stimuli and responses (closed form, offset)") {
  const fs::path dir = scratch("gaussian");
  fs::create_directories(dir);
  const std::string data = (dir / "g.csv").string();
  Result s = run_bactor("simulate --cost Linex --perception gaussian --motor gaussian --offset --set "
                        "mu_0=-1,sigma_0=1.5,sigma=0.5,sigma_a=0.3,c=0.5,offset=-0.4 --stimuli=-4:3 --trials 150 --seed 5 --out " +
                        data);
  INFO(s.out);
  REQUIRE(s.code == 0);
  CHECK(s.out.find("gaussian perception") != std::string::npos);
  const std::string text = read_text(data);
  CHECK(text.find("\n-") != std::string::npos);  // negative stimuli
  CHECK(text.find(",-") != std::string::npos);   // negative responses
  const std::string fit = (dir / "fit").string();
  Result f = run_bactor("infer --data " + data + " --cost Linex --closed-form --perception gaussian --motor gaussian --offset "
                        "--fix sigma=0.5,mu_0=-1 --predict --chains 2 --warmup 300 --samples 400 --seed 2 --out " + fit);
  INFO(f.out);
  REQUIRE(f.code == 0);
  CHECK(f.out.find("root mean square of the stimuli") != std::string::npos);
  const std::string chain = read_text(dir / "fit" / "chain-1.csv");
  CHECK(chain.find("perception = gaussian") != std::string::npos);
  CHECK(chain.find("offset=normal:0:") != std::string::npos);  // the recorded prior, data units
  Result sum = run_bactor("summary " + fit + "/chain-1.csv " + fit + "/chain-2.csv");
  INFO(sum.out);
  REQUIRE(sum.code == 0);
  CHECK(sum.out.find("offset") != std::string::npos);
  CHECK(sum.out.find("sigma_a") != std::string::npos);
  Result c = run_bactor("check " + fit);
  INFO(c.out);
  REQUIRE(c.code == 0);
  CHECK(c.out.find("mean r: observed") != std::string::npos);
  CHECK(c.out.find("slope of r on s") != std::string::npos);
  CHECK(c.out.find("nan") == std::string::npos);
}

TEST_CASE("cli perception: gaussian round trip with a formula cost (the generic shift solver)") {
  const fs::path dir = scratch("gaussian_formula");
  fs::create_directories(dir);
  const std::string data = (dir / "g.csv").string();
  const std::string cost = "--formula 'abs(r - s)^1.5*if(r >= s, g, 1)' --params g=uniform:0.5:3";
  Result s = run_bactor("simulate " + cost + " --perception gaussian --motor gaussian --set "
                        "mu_0=0.5,sigma_0=1.5,sigma=0.6,sigma_a=0.4,g=2.5 --stimuli=-3:3 --trials 200 --seed 3 --out " + data);
  INFO(s.out);
  REQUIRE(s.code == 0);
  const std::string fit = (dir / "fit").string();
  Result f = run_bactor("infer --data " + data + " " + cost + " --closed-form --perception gaussian --motor gaussian "
                        "--fix sigma=0.6,mu_0=0.5 --chains 2 --warmup 300 --samples 400 --seed 2 --out " + fit);
  INFO(f.out);
  REQUIRE(f.code == 0);
  Result sum = run_bactor("summary " + fit + "/chain-1.csv " + fit + "/chain-2.csv");
  INFO(sum.out);
  REQUIRE(sum.code == 0);
  CHECK(sum.out.find("\ng ") != std::string::npos);  // the formula's parameter is sampled
  CHECK(read_text(dir / "fit" / "chain-1.csv").find("perception = gaussian") != std::string::npos);
}

TEST_CASE("cli perception: gaussian round trip with a cost that is not a function of r - s (the exact action)") {
  const fs::path dir = scratch("gaussian_exact");
  fs::create_directories(dir);
  const std::string data = (dir / "g.csv").string();
  const std::string cost = "--formula '(r - s)^2 + k*r^2' --params k=uniform:0.05:0.5";
  Result s = run_bactor("simulate " + cost + " --perception gaussian --motor gaussian --set "
                        "mu_0=0.5,sigma_0=1.2,sigma=0.4,sigma_a=0.3,k=0.3 --stimuli=-2:3 --trials 80 --seed 3 --out " + data);
  INFO(s.out);
  REQUIRE(s.code == 0);
  CHECK(s.out.find("action: numerical") != std::string::npos);
  // Without the exact action the cost is refused, with a pointer to it.
  Result r = run_bactor("infer --data " + data + " " + cost + " --closed-form --perception gaussian --motor gaussian --out " +
                        (dir / "r").string());
  CHECK(r.code == 2);
  CHECK(r.out.find("--exact-action") != std::string::npos);
  const std::string fit = (dir / "fit").string();
  Result f = run_bactor("infer --data " + data + " " + cost + " --exact-action --scale 1 --perception gaussian --motor gaussian "
                        "--fix sigma=0.4,mu_0=0.5 --chains 1 --warmup 40 --samples 40 --seed 2 --out " + fit);
  INFO(f.out);
  REQUIRE(f.code == 0);
  CHECK(f.out.find("exact action") != std::string::npos);
  CHECK(f.out.find("\nk ") != std::string::npos);  // the cost's parameter is sampled
  const std::string chain = read_text(dir / "fit" / "chain-1.csv");
  CHECK(chain.find("perception = gaussian") != std::string::npos);
  CHECK(chain.find("action = exact") != std::string::npos);
  Result c = run_bactor("check " + fit);  // predictions from the exact action
  INFO(c.out);
  CHECK(c.code == 0);
  CHECK(c.out.find("nan") == std::string::npos);
}

TEST_CASE("cli perception: gaussian perception with lapses (simulate --lapse, infer --lapse, a range of any sign)") {
  const fs::path dir = scratch("gaussian_lapse");
  fs::create_directories(dir);
  const std::string data = (dir / "g.csv").string();
  Result s = run_bactor("simulate --cost QuadraticCost --perception gaussian --motor gaussian --lapse 0.1 --set "
                        "mu_0=0.5,sigma_0=1.5,sigma=0.6,sigma_a=0.3 --stimuli=-3:3 --trials 300 --seed 3 --out " + data);
  INFO(s.out);
  REQUIRE(s.code == 0);
  CHECK(s.out.find("lapses") != std::string::npos);
  const std::string fit = (dir / "fit").string();
  Result f = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --perception gaussian --motor gaussian --lapse "
                        "--fix sigma=0.6 --predict --chains 2 --warmup 300 --samples 300 --seed 2 --out " + fit);
  INFO(f.out);
  REQUIRE(f.code == 0);
  CHECK(f.out.find("\nlapse ") != std::string::npos);
  const std::string chain = read_text(dir / "fit" / "chain-1.csv");
  CHECK(chain.find("lapse_range = -") != std::string::npos);  // the default range in r, below 0
  Result c = run_bactor("check " + fit);  // predictions from the mixture, the recorded range
  INFO(c.out);
  CHECK(c.code == 0);
  CHECK(c.out.find("nan") == std::string::npos);
  // A given range may be negative under gaussian perception; it must hold every response.
  Result g = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --perception gaussian --motor gaussian --lapse "
                        "--lapse-range=-30:30 --fix sigma=0.6 --chains 1 --warmup 100 --samples 100 --out " + (dir / "g").string());
  INFO(g.out);
  CHECK(g.code == 0);
  Result b = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --perception gaussian --motor gaussian --lapse "
                        "--lapse-range=-1:1 --chains 1 --out " + (dir / "b").string());
  CHECK(b.code == 2);
  CHECK(b.out.find("the contaminant's range") != std::string::npos);
}

TEST_CASE("cli perception: gaussian refusals name the option") {
  const fs::path dir = scratch("gaussian_bad");
  fs::create_directories(dir);
  const std::string data = (dir / "g.csv").string();
  REQUIRE(run_bactor("simulate --cost QuadraticCost --perception gaussian --motor gaussian --set mu_0=0,sigma_0=1,sigma=0.5,sigma_a=0.3 "
                     "--stimuli=-2:2 --trials 30 --out " + data).code == 0);
  Result a = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --perception gaussian --out " + (dir / "a").string());
  CHECK(a.code == 2);
  CHECK(a.out.find("--perception: gaussian: needs gaussian motor noise") != std::string::npos);
  Result b = run_bactor("infer --data " + data + " --cost AbsoluteCostQuadraticEffort --closed-form --perception gaussian --motor gaussian "
                        "--out " + (dir / "b").string());
  CHECK(b.code == 2);
  CHECK(b.out.find("is not a function of r - s alone") != std::string::npos);
  // A formula whose expected cost has no minimum (it decreases as |r - s| grows).
  Result m = run_bactor("simulate --formula '-abs(r - s)' --perception gaussian --motor gaussian --set mu_0=0,sigma_0=1,sigma=0.5,sigma_a=0.3 "
                        "--out " + (dir / "m.csv").string());
  CHECK(m.code == 2);
  CHECK(m.out.find("has no finite minimum") != std::string::npos);
  // Log-normal perception cannot read negative stimuli: the file, line and column are named.
  Result c = run_bactor("infer --data " + data + " --cost QuadraticCost --closed-form --motor gaussian --out " + (dir / "c").string());
  CHECK(c.code == 2);
  CHECK(c.out.find(data + ":") != std::string::npos);
  CHECK(c.out.find("column 's'") != std::string::npos);
  // Networks under gaussian perception plan with gaussian motor noise (tests/cli/test_cli_network_linear.cpp).
  Result t = run_bactor("train --cost QuadraticCost --perception gaussian --steps 5 --out " + (dir / "n.safetensors").string());
  CHECK(t.code == 2);
  CHECK(t.out.find("--motor: lognormal: gaussian perception needs gaussian motor noise") != std::string::npos);
}

TEST_CASE("cli perception: vonmises round trip with an asymmetric formula cost's parameter and lapses") {
  const fs::path dir = scratch("vonmises_shift");
  fs::create_directories(dir);
  const std::string data = (dir / "v.csv").string();
  const std::string cost = "--formula \"(1 - cos(r - s)) * (1 + c*sin(r - s))\" --params c=uniform:-0.9:0.9 --perception vonmises";
  Result s = run_bactor("simulate " + cost + " --set mu_0=-1,sigma_0=0.5,sigma=0.2,sigma_r=0.15,c=0.6 --lapse 0.1 --trials 120 "
                        "--seed 3 --out " + data);
  INFO(s.out);
  REQUIRE(s.code == 0);
  CHECK(s.out.find("action: numerical") != std::string::npos);  // mu_post + the solved shift
  CHECK(s.out.find(" lapses)") != std::string::npos);
  Result f = run_bactor("infer --data " + data + " " + cost + " --closed-form --lapse --fix sigma=0.2,sigma_r=0.15 --chains 1 "
                        "--warmup 60 --samples 60 --predict --out " + (dir / "fit").string());
  INFO(f.out);
  REQUIRE(f.code == 0);
  const std::string summary = read_text(dir / "fit" / "summary.csv");
  CHECK(summary.find("\nc,") != std::string::npos);
  CHECK(summary.find("\nlapse,") != std::string::npos);
  const std::string draws = read_text(dir / "fit" / "chain-1.csv");
  CHECK(draws.find("r_rep") != std::string::npos);
  CHECK(draws.find("lapse_range = -3.14159") != std::string::npos);  // the whole circle
  // check reads the circular lapse fit back, its formula compiled again from the draws file.
  Result c = run_bactor("check " + (dir / "fit").string() + " --draws 50");
  INFO(c.out);
  CHECK(c.code == 0);
  CHECK(c.out.find("circ. mean d") != std::string::npos);
}

TEST_CASE("cli: check and report compile a fit's formula cost again (its settings recorded), and a negative uniform prior only where a parameter may be negative") {
  const fs::path dir = scratch("formula_check");
  fs::create_directories(dir);
  const std::string data = (dir / "f.csv").string();
  const std::string cost = "--formula \"abs(r - s)^1.5 + c*(r - s)\" --params c=uniform:-1:1 --perception gaussian --motor gaussian";
  Result r = run_bactor("simulate " + cost + " --set mu_0=0,sigma_0=1,sigma=0.5,sigma_a=0.3,c=0.3 --stimuli=-2:2 --trials 80 "
                        "--seed 2 --out " + data);
  INFO(r.out);
  REQUIRE(r.code == 0);
  const std::string fit = (dir / "fit").string();
  r = run_bactor("infer " + cost + " --data " + data + " --closed-form --prior c=uniform:-0.5:1 --chains 2 --warmup 150 "
                 "--samples 150 --seed 3 --out " + fit);
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(read_text(dir / "fit" / "chain-1.csv").find("# formula_params = c=uniform:-1:1") != std::string::npos);
  r = run_bactor("check " + fit);  // a fresh process: the formula is compiled from the draws file
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("statistics outside their 90% predictive intervals") != std::string::npos);
  r = run_bactor("infer " + cost + " --data " + data + " --closed-form --prior sigma=uniform:-1:1 --out " + (dir / "bad").string());
  CHECK(r.code != 0);
  CHECK(r.out.find("sigma is positive") != std::string::npos);
}
