// SPDX-License-Identifier: MIT
// Costs from outside the library: formulas (parser errors, evaluation, the fused kernel, the
// ground truth of the seven built-ins written as formulas), detection of homogeneity and kinks,
// C++ structs registered through the public API, and formula networks' metadata. A test
// executable of its own: it registers costs, which the other model tests do not expect to see.
#include "tests/models/fused_test_util.hpp"
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <bactor/engine/rng.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/custom_cost.hpp>
#include <bactor/models/formula.hpp>
#include <bactor/models/ground_truth.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/train.hpp>
#include "models/formula_program.hpp"

using namespace bactor;

namespace {

CostInfo formula(const std::string& text, const std::string& params = "", bool kink = false) {
  FormulaSpec f;
  f.expression = text;
  f.params = parse_param_priors(params);
  f.kink = kink;
  return make_formula_cost(f);
}

/// Each built-in written as a formula, with the built-in's declared settings.
struct Twin {
  const char* builtin;
  const char* expression;
  const char* params;
  bool kink;
  double truncation = 0, importance = 0, seam = 0;
};
const Twin twins[] = {
    {"QuadraticCost", "(s-r)^2", "", false},
    {"QuadraticCostQuadraticEffort", "beta*(s-r)^2 + (1-beta)*r^2", "beta=uniform:0.5:1", false},
    {"AbsoluteCost", "abs(s-r)", "", true},
    {"AbsoluteCostQuadraticEffort", "beta*abs(s-r) + (1-beta)*r^2", "beta=uniform:0.5:1", true},
    {"AsymmetricQuadratic", "2*if(r >= s, 1-alpha, alpha)*(r-s)^2", "alpha=uniform:0.1:0.9", true},
    // Linex with its clamp: exp continued linearly beyond c (r - s) = 10.
    {"Linex", "2/c^2*(exp(min(c*(r-s), 10))*(1 + c*(r-s) - min(c*(r-s), 10)) - c*(r-s) - 1)",
     "c=lognormal:-0.69314718055994529:1", false, 4.0, 1.5, 10.0},
    {"InvertedGaussian", "1 - exp(-(s-r)^2/(2*gamma^2))", "gamma=lognormal:0.91629073187415511:0.5", true},
};

CostInfo twin_cost(const Twin& t) {
  FormulaSpec f;
  f.expression = t.expression;
  f.params = parse_param_priors(t.params);
  f.kink = t.kink;
  f.motor_truncation = t.truncation;
  f.motor_importance_scale = t.importance;
  if (!t.kink) f.homogeneity_degree = find_cost(t.builtin).homogeneity_degree;
  CostInfo c = make_formula_cost(f);
  c.kink_at_s_equals_r = t.kink;  // declared as the built-in declares it (not detected)
  c.seam = t.seam;                 // (CostInfo::seam: a formula cannot declare one)
  return c;
}

std::string error_of(const std::string& text, const std::string& params = "") {
  try {
    formula(text, params);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("formula parser: a bad formula names the column and what was expected") {
  CHECK(error_of("beta*(s-r^2", "beta=uniform:0.5:1") == "formula: column 12: expected ')', found the end of the formula");
  CHECK(error_of("s + * r") == "formula: column 5: expected a number, s, r, a parameter, a function or '(', found '*'");
  CHECK(error_of("s r") == "formula: column 3: expected an operator (+ - * / ^ < <= > >= == !=) or the end, found 'r'");
  CHECK(error_of("") == "formula: column 1: expected an expression, found the end of the formula");
  CHECK(error_of("foo(s)").find("column 1: expected a number, a function or one of s, r") != std::string::npos);
  CHECK(error_of("foo(s)").find("found unknown name 'foo'") != std::string::npos);
  CHECK(error_of("min(s)") == "formula: column 6: expected ',' (min takes 2 arguments), found ')'");
  CHECK(error_of("exp(s, r)") == "formula: column 6: expected ')' (exp takes 1 argument), found ','");
  CHECK(error_of("if(s > r, 1)") == "formula: column 12: expected ',' (if takes 3 arguments), found ')'");
  CHECK(error_of("exp s") == "formula: column 5: expected '(' after exp, found 's'");
  CHECK(error_of("s $ r") == "formula: column 3: expected an operator (+ - * / ^ < <= > >= == !=) or the end, found '$'");
  // Parameters: declared but unused, reserved names, bad priors.
  CHECK(error_of("(s-r)^2", "beta=uniform:0.5:1").find("parameter 'beta' does not occur") != std::string::npos);
  CHECK(error_of("sigma*(s-r)^2", "sigma=uniform:0.5:1").find("'sigma' cannot name a parameter") != std::string::npos);
  CHECK_THROWS_WITH_AS(parse_param_priors("beta=uniform:1:0.5"), doctest::Contains("prior of 'beta'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_param_priors("beta"), doctest::Contains("'beta' is not NAME=PRIOR"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_param_priors("c=lognormal:0:-1"), doctest::Contains("prior of 'c'"), std::invalid_argument);
  CHECK_THROWS_AS(formula("s", "a=uniform:0:1,a=uniform:0:1"), std::invalid_argument);
  // Nesting is bounded (the parser and compiler recurse; 20,000 '(' overflowed the stack): 400
  // levels of each kind compile, deeper ones are refused by name.
  const auto nest = [](const std::string& open, const std::string& core, const std::string& close, int k) {
    std::string t;
    for (int i = 0; i < k; ++i) t += open;
    t += core;
    for (int i = 0; i < k; ++i) t += close;
    return t;
  };
  const std::string too_deep = "a formula nested at most 500 levels deep";
  for (const int k : {400, 20000}) {
    CAPTURE(k);
    const std::string kinds[] = {nest("(", "(r - s)^2", ")", k), nest("exp(", "r - s", ")", k), nest("-", "(r - s)^2", "", k),
                                 nest("r^", "r", "", k), nest("(r - s)^2 + ", "1", "", k)};
    for (const auto& f : kinds) {
      if (k == 400) CHECK_NOTHROW(detail::compile_formula(f, {}));
      else CHECK(error_of(f).find(too_deep) != std::string::npos);
    }
  }
  // A FormulaError carries the column.
  try {
    formula("(s - r))");
    FAIL("no error");
  } catch (const FormulaError& e) {
    CHECK(e.column() == 8);
  }
}

TEST_CASE("formula evaluation: precedence, functions, comparisons and dl/dr against finite differences") {
  struct Case {
    const char* text;
    double (*ref)(double s, double r, double k);
  };
  const Case cases[] = {
      {"-s^2 + 2^3^0.5*r", [](double s, double r, double) { return -(s * s) + std::pow(2, std::pow(3, 0.5)) * r; }},
      {"k*r/s - (s - r)/2", [](double s, double r, double k) { return k * r / s - (s - r) / 2; }},
      {"exp(-r) + log(s*r) + sqrt(r) + abs(s - 3*r)",
       [](double s, double r, double) { return std::exp(-r) + std::log(s * r) + std::sqrt(r) + std::abs(s - 3 * r); }},
      {"sin(r) * cos(s) + min(s, r) - max(s, 2*r)",
       [](double s, double r, double) { return std::sin(r) * std::cos(s) + std::min(s, r) - std::max(s, 2 * r); }},
      {"if(r < s, k, 1)*(s-r)^2 + (r >= 2) - (s == s) + (r != r)",
       [](double s, double r, double k) { return (r < s ? k : 1.0) * (s - r) * (s - r) + (r >= 2) - 1.0; }},
      {"r^-2 + r^1.5 + (1 <= 2)*r^k", [](double s, double r, double k) { (void)s; return 1 / (r * r) + std::pow(r, 1.5) + std::pow(r, k); }},
      {"3", [](double, double, double) { return 3.0; }},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    const std::string text = c.text;
    const bool uses_k = text.find('k') != std::string::npos;
    const CostInfo f = formula(text, uses_k ? "k=uniform:1:3" : "");
    const double k = 1.7;
    for (double s : {0.4, 1.3, 3.1})
      for (double r : {0.3, 0.9, 2.2, 4.0}) {
        CHECK(f.loss(s, r, &k) == doctest::Approx(c.ref(s, r, k)).epsilon(1e-14));
        double d = 0;
        CHECK(f.loss_dr(s, r, &k, &d) == doctest::Approx(c.ref(s, r, k)).epsilon(1e-14));
        const double h = 1e-6;
        CHECK(d == doctest::Approx((c.ref(s, r + h, k) - c.ref(s, r - h, k)) / (2 * h)).epsilon(1e-6).scale(1e-6));
      }
  }
}

TEST_CASE("formula evaluation: the SIMD block evaluator against the scalar one; dl'/dp and dl/dp against finite differences") {
  const char* texts[] = {"a*abs(r - s)^b + if(r >= s, a, 1)*sin(r - s)", "exp(a*(r - s)) - a*(r - s) + b*log(1 + (r - s)^2)",
                         "b*sqrt(abs(r - s) + a) + max(r - s, a*(r - s)) + cos(b*(r - s))/a"};
  // 13 points (a short last SIMD batch), none at the kink r = s.
  std::vector<double> x, zero(13, 0.0), l(13), dl(13), lp(13), dlp(13), lm(13), dlm(13), out(13), lo(13), dlo(13);
  for (int i = 0; i < 13; ++i) x.push_back(-2.05 + 0.33 * i);
  for (const char* text : texts) {
    CAPTURE(text);
    const CostInfo f = formula(text, "a=uniform:0.5:2,b=uniform:1.2:3");
    const double p[2] = {0.8, 1.7};
    f.loss_dr_n(x.size(), zero.data(), x.data(), p, l.data(), dl.data());
    for (std::size_t i = 0; i < x.size(); ++i) {
      double d = 0;
      CHECK(l[i] == doctest::Approx(f.loss_dr(0.0, x[i], p, &d)).epsilon(1e-13));
      CHECK(dl[i] == doctest::Approx(d).epsilon(1e-13));
    }
    for (std::size_t k = 0; k < 2; ++k) {
      CAPTURE(k);
      const double h = 1e-6;
      double q[2] = {p[0], p[1]};
      q[k] = p[k] + h;
      f.loss_dr_n(x.size(), zero.data(), x.data(), q, lp.data(), dlp.data());
      q[k] = p[k] - h;
      f.loss_dr_n(x.size(), zero.data(), x.data(), q, lm.data(), dlm.data());
      REQUIRE(detail::formula_slope_dparam(f, k, x.size(), x.data(), p, out.data()));
      REQUIRE(detail::formula_loss_dparam(f, k, x.size(), x.data(), p, lo.data(), dlo.data()));
      for (std::size_t i = 0; i < x.size(); ++i) {
        CHECK(out[i] == doctest::Approx((dlp[i] - dlm[i]) / (2 * h)).epsilon(1e-6).scale(1e-6));
        CHECK(lo[i] == doctest::Approx(l[i]).epsilon(1e-13));
        CHECK(dlo[i] == doctest::Approx((lp[i] - lm[i]) / (2 * h)).epsilon(1e-6).scale(1e-6));
      }
    }
  }
  // Not a formula (or no such parameter): false, nothing written.
  const double alpha = 0.3;
  CHECK_FALSE(detail::formula_slope_dparam(find_cost("AsymmetricQuadratic"), 0, x.size(), x.data(), &alpha, out.data()));
  CHECK_FALSE(detail::formula_loss_dparam(find_cost("AsymmetricQuadratic"), 0, x.size(), x.data(), &alpha, lo.data(), dlo.data()));
  CHECK_FALSE(detail::formula_slope_dparam(formula("(r - s)^2"), 0, x.size(), x.data(), &alpha, out.data()));
}

TEST_CASE("the seven built-ins as formulas: the same loss, derivative and fused-kernel result") {
  const std::size_t n = 5, K = 37;  // K not a multiple of the SIMD width: the tail
  Rng rng(3, 1);
  std::vector<float> mu(n), sp(n), a(n), sr(n), e(n * K), u(n * K);
  for (std::size_t b = 0; b < n; ++b) {
    mu[b] = float(rng.uniform(-1, 1.5));
    sp[b] = float(rng.uniform(0.01, 0.4));
    a[b] = float(std::exp(mu[b]) * rng.uniform(0.7, 1.3));
    sr[b] = float(rng.uniform(0.01, 0.5));
  }
  for (auto& x : e) x = float(rng.normal());
  for (auto& x : u) x = float(rng.normal());
  for (const Twin& t : twins) {
    CAPTURE(t.builtin);
    const CostInfo& b = find_cost(t.builtin);
    const CostInfo f = twin_cost(t);
    REQUIRE(f.params.size() == b.params.size());
    CHECK(f.motor_truncation == b.motor_truncation);
    std::vector<double> p;
    for (const auto& pr : b.params) p.push_back(pr.kind == ParamPrior::Kind::uniform ? 0.3 * pr.a + 0.7 * pr.b : std::exp(pr.a + 0.4));
    for (double s : {0.3, 1.0, 4.0})
      for (double r : {0.2, 0.9, 1.0, 5.5, 60.0}) {
        double d1 = 0, d2 = 0;
        CHECK(f.loss_dr(s, r, p.data(), &d1) == doctest::Approx(b.loss_dr(s, r, p.data(), &d2)).epsilon(1e-14));
        CHECK(d1 == doctest::Approx(d2).epsilon(1e-14));
      }
    // The fused kernel on the same fixed draws: float rounding apart, the same numbers.
    std::vector<float> params(std::max<std::size_t>(p.size(), 1) * n);
    for (std::size_t j = 0; j < p.size(); ++j)
      for (std::size_t i = 0; i < n; ++i) params[j * n + i] = float(p[j]);
    std::vector<float> lf(n), gf(n), lb(n), gb(n);
    detail::FusedArgs g = bactor::testing::fused_args(K, mu, sp, a, sr, params);
    g.e_fixed = e.data();
    g.u_fixed = u.data();
    g.u_clamp = float(b.motor_truncation);
    g.u_scale = float(b.motor_importance_scale);
    g.loss = lf.data();
    g.dloss_da = gf.data();
    f.fused(g);
    g.loss = lb.data();
    g.dloss_da = gb.data();
    b.fused(g);
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(lf[i] == doctest::Approx(lb[i]).epsilon(1e-5).scale(1e-6));
      CHECK(gf[i] == doctest::Approx(gb[i]).epsilon(1e-5).scale(1e-6));
    }
  }
}

TEST_CASE("the seven built-ins as formulas: the same ground-truth action to 1e-9 relative on 1,000 points") {
  // Both through the ground-truth solver (numerical_action, tolerance 1e-10 in log a); the two
  // closed forms are checked against it in test_costs.cpp. 1,000 points from the training prior
  // (sample_training_point), ~143 per cost.
  Rng rng(2026, 12);
  int checked = 0;
  double worst = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    const Twin& t = twins[i % 7];
    const CostInfo& b = find_cost(t.builtin);
    static std::vector<CostInfo> formulas;
    if (formulas.empty())
      for (const Twin& tw : twins) formulas.push_back(twin_cost(tw));
    const CostInfo& f = formulas[std::size_t(i % 7)];
    std::vector<double> th(theta_size(b));
    double m = 0;
    sample_training_point(b, TrainingPrior{}, rng, th, m);
    const double ab = numerical_action(b, th, m), af = numerical_action(f, th, m);
    const double rel = std::abs(af / ab - 1);
    worst = std::max(worst, rel);
    if (rel > 1e-9) {
      CAPTURE(t.builtin);
      CAPTURE(m);
      CHECK(rel <= 1e-9);
    }
    ++checked;
  }
  CHECK(checked == 1000);
  MESSAGE("largest relative difference " << worst << " in "
                                         << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");
}

TEST_CASE("homogeneity and kinks are detected as the built-ins declare them") {
  for (const Twin& t : twins) {
    CAPTURE(t.builtin);
    const CostInfo& b = find_cost(t.builtin);
    CHECK(detect_homogeneity(b) == b.homogeneity_degree);
    const CostInfo f = formula(t.expression, t.params);  // nothing declared: everything detected
    CHECK(f.homogeneity_degree == b.homogeneity_degree);
    CHECK(std::string(default_head_name(f)) == default_head_name(b));
    if (b.motor_truncation == 0) {
      CHECK(detect_kink(b) == b.kink_at_s_equals_r);
      CHECK(f.kink_at_s_equals_r == b.kink_at_s_equals_r);
    }
  }
  // Other degrees and no degree; a jump in the second derivative only; a smooth cost.
  CHECK(formula("abs(s-r)^3").homogeneity_degree == 3);
  CHECK(formula("(s-r)^2*(s+r)^2").homogeneity_degree == 4);
  CHECK(formula("(s-r)^2 + 0.01*r").homogeneity_degree == 0);
  CHECK(formula("(log(s) - log(r))^2").homogeneity_degree == 0);  // degree 0 is reported as none
  CHECK(formula("if(r > s, 3, 1)*(r-s)^2").kink_at_s_equals_r);
  CHECK_FALSE(formula("(s-r)^2 + (s-r)^3").kink_at_s_equals_r);
  CHECK(formula("(s-r)^2 + (s-r)^3", "", true).kink_at_s_equals_r);  // declared
  // A kink with a truncation is refused (the split rule has no truncation).
  FormulaSpec bad;
  bad.expression = "abs(s-r)";
  bad.kink = true;
  bad.motor_truncation = 4;
  CHECK_THROWS_WITH_AS(make_formula_cost(bad), doctest::Contains("kink and motor_truncation"), std::invalid_argument);
  bad.kink = false;
  bad.motor_truncation = 0;
  bad.motor_importance_scale = 1.5;
  CHECK_THROWS_WITH_AS(make_formula_cost(bad), doctest::Contains("motor_importance_scale"), std::invalid_argument);
}

namespace {
/// QuadraticCostQuadraticEffort as an embedding program would write it.
struct Effort {
  static constexpr int n_params = 1;
  template <class T> static T eval(const T& s, const T& r, const T* p) {
    const T d = s - r;
    return p[0] * d * d + (1.0f - p[0]) * r * r;
  }
};
struct Peaked {  // uses the generic functions of cost_math.hpp
  static constexpr int n_params = 1;
  template <class T> static T eval(const T& s, const T& r, const T* p) {
    using gen::exp;
    const T d = s - r;
    return 1.0f - exp(-(d * d) / (2.0f * p[0] * p[0]));
  }
};
} // namespace

TEST_CASE("register_cost<Fn>: a C++ struct through the public API, listed, found, trained on") {
  CostSpec spec;
  spec.name = "TestEffort";
  spec.formula = "beta*(s-r)^2 + (1-beta)*r^2";
  spec.params = {{"beta", ParamPrior::Kind::uniform, 0.5, 1.0}};
  const CostInfo& c = register_cost<Effort>(spec);
  CHECK(&find_cost("TestEffort") == &c);
  CHECK(c.homogeneity_degree == 2);
  CHECK_FALSE(c.kink_at_s_equals_r);
  CHECK(std::string(default_head_name(c)) == "posterior");
  bool listed = false;
  for (const auto& x : cost_families()) listed = listed || &x == &c;
  CHECK(listed);
  // Taken names and mismatched priors are refused.
  CHECK_THROWS_WITH_AS(register_cost<Effort>(spec), doctest::Contains("name: 'TestEffort' is taken"), std::invalid_argument);
  CostSpec two = spec;
  two.name = "TestEffort2";
  two.params.push_back({"x", ParamPrior::Kind::uniform, 0, 1});
  CHECK_THROWS_WITH_AS(register_cost<Effort>(two), doctest::Contains("params has 2 priors, the function takes 1"),
                       std::invalid_argument);
  CostSpec peaked;
  peaked.name = "TestPeaked";
  peaked.params = {{"gamma", ParamPrior::Kind::lognormal, std::log(2.5), 0.5}};
  const CostInfo& pk = register_cost<Peaked>(peaked);
  CHECK(pk.kink_at_s_equals_r == find_cost("InvertedGaussian").kink_at_s_equals_r);  // detected
  CHECK(pk.homogeneity_degree == 0);

  // The block evaluator in the fused kernel gives the built-in's numbers.
  const CostInfo& b = find_cost("QuadraticCostQuadraticEffort");
  const std::size_t n = 3, K = 45;
  std::vector<float> mu{0.1f, 1.2f, -0.5f}, sp{0.1f, 0.3f, 0.2f}, a{1.2f, 3.0f, 0.6f}, sr{0.2f, 0.05f, 0.4f},
      p{0.6f, 0.8f, 0.95f}, l1(n), g1(n), l2(n), g2(n);
  detail::FusedArgs g = bactor::testing::fused_args(K, mu, sp, a, sr, p);
  g.seed = 5;
  g.loss = l1.data();
  g.dloss_da = g1.data();
  c.fused(g);
  g.loss = l2.data();
  g.dloss_da = g2.data();
  b.fused(g);
  for (std::size_t i = 0; i < n; ++i) {
    CHECK(l1[i] == doctest::Approx(l2[i]).epsilon(1e-6));
    CHECK(g1[i] == doctest::Approx(g2[i]).epsilon(1e-6));
  }
}

TEST_CASE("a formula network records its formula; loading registers it again") {
  FormulaSpec fs;
  fs.expression = "beta*(s-r)^2 + (1-beta)*r^2";
  fs.params = parse_param_priors("beta=uniform:0.5:1");
  const CostInfo& c = register_formula_cost(fs);
  CHECK(c.name == "formula:beta*(s-r)^2 + (1-beta)*r^2");
  CHECK(&register_formula_cost(fs) == &c);  // the same formula twice: one entry
  TrainSettings ts;
  ts.cost = c.name;
  ts.head = "auto";
  ts.head = default_head_name(c);
  ts.steps = 20;
  ts.eval_points = 16;
  ts.threads = 1;
  const TrainResult tr = train(ts);
  const std::string path = (std::filesystem::temp_directory_path() / "bactor_test_formula.safetensors").string();
  tr.network.save(path);
  const ActionNetwork back = ActionNetwork::load(path);
  std::filesystem::remove(path);
  CHECK(back.cost_name() == c.name);
  REQUIRE(back.metadata().count("cost_formula"));
  CHECK(back.metadata().at("cost_formula").find("beta=uniform:0.5:1") != std::string::npos);
  CHECK(&find_cost(back.cost_name()) == &c);
}

TEST_CASE("a formula network of QuadraticCostQuadraticEffort trains as the built-in does (reduced budget)") {
  // Default settings reach 0.045% mean relative error in 60,000 steps (docs/custom-costs.md);
  // here 2,500 steps: the built-in and the formula are trained with the same seed and must
  // reach mean relative errors within 0.3% absolute of each other and below 1%.
  FormulaSpec fs;
  fs.expression = "beta*(s-r)^2 + (1-beta)*r^2";
  fs.params = parse_param_priors("beta=uniform:0.5:1");
  const CostInfo& f = register_formula_cost(fs);
  const CostInfo& b = find_cost("QuadraticCostQuadraticEffort");
  double err[2];
  for (int k = 0; k < 2; ++k) {
    const CostInfo& c = k ? f : b;
    TrainSettings ts;
    ts.cost = c.name;
    ts.head = default_head_name(c);
    ts.steps = 2500;
    ts.eval_points = 64;
    ts.threads = 1;
    const TrainResult tr = train(ts);
    const EvalSet es = make_eval_set(b, 400, 77, 0x7777);  // closed-form truths for both
    ActionNetwork::Workspace ws;
    double sum = 0;
    for (std::size_t i = 0; i < es.size(); ++i) {
      double x[3];
      tr.network.forward({es.theta.data() + i * es.n_inputs, es.n_inputs}, es.m[i], x, ws);
      sum += std::abs(tr.network.action(std::span<const double, 3>(x), es.m[i]) / es.a_star[i] - 1);
    }
    err[k] = sum / double(es.size());
  }
  MESSAGE("mean relative error: built-in " << err[0] << ", formula " << err[1]);
  CHECK(err[1] < 0.01);
  CHECK(std::abs(err[1] - err[0]) < 0.003);
}

TEST_CASE("generalized and gaussian motor noise: training with the product rule refuses a cost whose expected cost is not positive (its log is the objective)") {
  FormulaSpec negative;
  negative.expression = "(s - r)^2 - 5";
  negative.name = "test_negative_generalized";
  const CostInfo& cost = register_formula_cost(negative);
  // Under gaussian motor noise a smooth formula takes the rule too (since 2026-12-07; before, draws).
  for (const MotorModel motor : {MotorModel::generalized, MotorModel::gaussian}) {
    const char* motor_name = to_string(motor);
    CAPTURE(motor_name);
    TrainSettings s;
    s.cost = cost.name;
    s.motor = motor;
    s.eval_points = 8;
    CHECK_THROWS_WITH_AS(Trainer{s}, doctest::Contains("log of the expected cost"), ArgumentError);
    s.quadrature = false;  // with draws the same cost trains
    CHECK_NOTHROW(Trainer{s});
  }
}

TEST_CASE("training stops with an error when the objective is not finite (a cost undefined for some (s, r)), and writes no network") {
  // sqrt(r - s) is NaN wherever r < s: before the check the trainer went on and returned a
  // network that answered nothing.
  FormulaSpec undefined;
  undefined.expression = "sqrt(r - s)";
  undefined.name = "test_undefined_sqrt";
  const CostInfo& cost = register_formula_cost(undefined);
  TrainSettings s;
  s.cost = cost.name;
  s.steps = 50;
  s.eval_points = 8;
  s.threads = 1;
  CHECK_THROWS_WITH_AS(train(s), doctest::Contains("training diverged: the objective or its gradient is not finite at step 1"),
                       std::runtime_error);
}
