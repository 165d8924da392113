// SPDX-License-Identifier: MIT
// The trainer: per chunk of 32 samples one tape graph (the MLP, its head and the expected-cost
// node, engine/tensor.hpp) whose reverse pass gives the chunk's gradient; a step's chunks are
// shared by the caller and worker threads and summed in chunk order; Adam or RMSprop.
#include <bactor/models/train.hpp>
#include <bactor/engine/errors.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include <bactor/engine/aligned.hpp>
#include <bactor/engine/rng.hpp>
#include <bactor/engine/tensor.hpp>
#include <bactor/engine/version.hpp>
#include <bactor/models/ground_truth.hpp>
#include "models/exact_linear.hpp"
#include "models/kink_split.hpp"
#include "models/network_heads.hpp"
#include "models/train_linear.hpp"
#include "models/marginal.hpp"
#include "models/shift_solve.hpp"

namespace bactor {

using fvec = std::vector<float, AlignedAllocator<float>>;

namespace {

constexpr std::size_t chunk = 32;  // samples per chunk (a block of the tape's affine kernel)

/// Inputs and results of one chunk of C samples (per-sample arrays; features feature-major).
struct ChunkWork {
  fvec x;                              // MLP inputs, n_feat x C
  fvec logm, mu, sp, sr, cp, wt;       // log m, mu_post, sigma_post, sigma_r, cost params (n_cp x C), loss weights
  fvec sa;                             // sigma_a (generalized and gaussian motor models)
  fvec kap;                            // gaussian perception: the head's output scale (heads::linear_output_scale)
  fvec dparams;                        // this chunk's gradient contribution
  double loss = 0.0;                   // this chunk's weighted loss (its share of the batch mean)
  std::vector<Tensor> leaves;          // the parameter leaves of the chunk's graph (scratch)
  std::vector<double> theta;
  std::vector<double> features;        // head_features of one theta row (scratch)
  std::size_t n_valid = 0;
};

/// The output head (models/network_heads.hpp, README: Network output heads) on the MLP's
/// outputs x (3 x n).
Tensor head_action(NetworkHead head, Tensor x, Tensor log_m, Tensor mu_post) {
  return heads::action(head, row(x, 0), row(x, 1), row(x, 2), log_m, mu_post);
}

/// The n-node Gauss–Hermite rule for E f(x), x ~ N(0, 1), padded with (0, 0) to `pad` entries.
void normal_rule(int n, std::size_t pad, std::vector<float>& x, std::vector<float>& w) {
  const GaussHermite gh(n);  // ∫ f(t) e^{-t^2} dt: x = sqrt(2) t, weight e^{log_w - t^2} / sqrt(pi)
  for (int j = 0; j < n; ++j) {
    const double t = gh.t[std::size_t(j)];
    x.push_back(float(std::numbers::sqrt2 * t));
    w.push_back(float(std::exp(gh.log_w[std::size_t(j)] - t * t) / std::sqrt(std::numbers::pi)));
  }
  x.resize(pad, 0.0f);
  w.resize(pad, 0.0f);
}

/// The rule's objective is log E[cost]: the first expected cost that is not positive at actions
/// exp(mu_post) x {1/4, 1, 4} of 256 training points (a formula that can be negative; adding a
/// constant to it changes no optimal action), or 1 when there is none.
double nonpositive_expected_cost(const CostInfo& cost, MotorModel motor, const TrainingPrior& prior,
                                 const ObjectiveRule& rule) {
  const std::size_t d = action_theta_size(cost, MotorSpec{motor, false}), np = cost.params.size();
  std::vector<double> th(d);
  Rng rng(0x9051, 0);
  for (int i = 0; i < 256; ++i) {
    double m;
    sample_training_point(cost, motor, prior, rng, th, m);
    const auto post = actor_posterior(m, th[0], th[1], th[2]);
    for (double f : {0.25, 1.0, 4.0}) {
      const double a = f * std::exp(post.mu_post), sa = motor == MotorModel::lognormal ? 0.0 : th[4 + np];
      const double sd = motor == MotorModel::gaussian ? sa : std::sqrt(th[3] * th[3] + sa * sa / (a * a));
      const double e = rule_expected_cost(cost, rule, post.mu_post, post.sigma_post, a, sd, th.data() + 4);
      if (!(e > 0)) return e;
    }
  }
  return 1.0;
}
} // namespace

ObjectiveRule objective_rule(const CostInfo& cost, MotorModel motor, std::size_t mc) {
  ObjectiveRule r;
  r.motor = motor;
  const detail::GaussLegendre8& gl = detail::gauss_legendre8();
  if (motor == MotorModel::gaussian && cost.kink_at_s_equals_r && !(cost.motor_truncation > 0)) {
    // The e-line cut where a crosses s, 8 Gauss–Legendre nodes per piece graded towards the cut
    // (t^2: where sa << a sp the integrand bends over a width sa / (a sp) there), the u-line cut at
    // r = s, 8 per piece; in the logistic scale (models/kink_split.hpp). 256 cost evaluations: on
    // AbsoluteCostQuadraticEffort's training prior the rule's optimal action is within 2.2e-4
    // (mean 3e-5) of a fine reference's; 2 x 4 by 2 x 8 nodes erred by up to 6e-3.
    for (int q = 0; q < gl.n; ++q) {
      const double t = 0.5 * (1 + gl.x[std::size_t(q)]);
      r.e_node.push_back(float(t * t));
      r.e_weight.push_back(float(0.5 * gl.w[std::size_t(q)] * 2 * t));
      r.u_node.push_back(float(t));
      r.u_weight.push_back(float(0.5 * gl.w[std::size_t(q)]));
    }
    r.e_nodes = r.e_node.size();
    r.u_node.resize(16, 0.5f);  // whole SIMD batches (the kernel's lanes run over u)
    r.u_weight.resize(16, 0.0f);
    r.split_lines = true;
    return r;
  }
  // Log-normal motor noise takes the same rules as the generalized model (sigma_a = 0): the
  // draws' gradient noise was what limited those networks (docs/accuracy.md; Linex too, since
  // its float evaluation no longer cancels below 0 near r = s).
  // Under gaussian motor noise the same rules with r = a + sigma_a u (rule.motor; the kernel's
  // product_rule_sample<true>): a truncated cost (Linex) the truncated product rule (its
  // importance-sampled draws left a network 11% off at its worst point, docs/families.md), a
  // smooth one the Gauss–Hermite rule (16 nodes in u: exact in u for a cost polynomial in r of
  // degree up to 31, QuadraticCost and QuadraticCostQuadraticEffort among them).
  if (cost.motor_truncation > 0 && cost.kink_at_s_equals_r) return ObjectiveRule{};
  if (cost.kink_at_s_equals_r) {
    // A kink of l at r = s (|r - s|, an asymmetric weight, a sharp dip): in the rotated
    // variables (z across the kink, w along it; FusedArgs::u_split) z is split there, and each
    // piece, from the kink outwards, gets two Gauss–Legendre panels of 8 nodes in t with
    // z - z_k proportional to t^2 (graded towards the kink, where a dip such as
    // InvertedGaussian's is narrow), written here on [0, 1]; z beyond +-kink_rule_range carries
    // a mass below 3e-12.
    r.split = float(kink_rule_range);
    for (double lo : {0.0, 0.5})
      for (int q = 0; q < gl.n; ++q) {
        const double t = lo + 0.25 * (1 + gl.x[std::size_t(q)]);
        r.u_node.push_back(float(t * t));
        r.u_weight.push_back(float(0.25 * gl.w[std::size_t(q)] * 2 * t));
      }
    r.e_nodes = std::max<std::size_t>(4, mc / (2 * r.u_node.size()));
    normal_rule(int(r.e_nodes), (r.e_nodes + 15) / 16 * 16, r.e_node, r.e_weight);
    return r;
  }
  if (const double T = cost.motor_truncation; T > 0) {
    // Motor draws clamped to [-T, T] (as the ground truth has them): Gauss–Legendre over the
    // normal density on panels graded towards +T (8 nodes each) plus the point masses P(u > T)
    // at +-T, so the expectation is that of the truncated noise without importance weights.
    // Graded because a cost growing like exp(c r) (Linex) with r = a e^{sd u} leans on the
    // upper end: two equal panels erred by 9% in the expected cost at c a ~ 2, sd ~ 0.7, these
    // five by 7e-4 (test_train.cpp).
    const double br[] = {-T, 0.0, 0.5 * T, 0.75 * T, 0.875 * T, T};
    for (std::size_t k = 0; k + 1 < std::size(br); ++k) {
      const double h = br[k + 1] - br[k];
      for (int q = 0; q < gl.n; ++q) {
        const double u = br[k] + 0.5 * h * (1 + gl.x[std::size_t(q)]);
        r.u_node.push_back(float(u));
        r.u_weight.push_back(float(0.5 * h * gl.w[std::size_t(q)] * std::exp(-0.5 * u * u) / std::sqrt(2 * std::numbers::pi)));
      }
    }
    const double tail = 0.5 * std::erfc(T / std::numbers::sqrt2);
    for (double u : {-T, T}) {
      r.u_node.push_back(float(u));
      r.u_weight.push_back(float(tail));
    }
  } else {
    const std::size_t J = objective_rule_motor_nodes;
    normal_rule(int(J), J, r.u_node, r.u_weight);
  }
  const std::size_t J = r.u_node.size();
  // Linex: at least 8 posterior nodes. Where c exp(mu_post) is large (10-60) exp(-c s) puts the
  // expected cost's weight in the posterior's lower tail (e about -W(c e^mu sp^2) / sp, down to
  // -4), beyond 4 Gauss–Hermite nodes' reach: their optimal action erred by up to 3.6% there
  // (the network followed it), 8 nodes' by 1.3% (docs/families.md, Accuracy).
  r.e_nodes = std::max<std::size_t>(cost.motor_truncation > 0 ? 8 : 4, mc / J);
  normal_rule(int(r.e_nodes), (r.e_nodes + 15) / 16 * 16, r.e_node, r.e_weight);
  if (cost.seam > 0) {
    // The seam (CostInfo::seam; Linex: exp continued linearly beyond c(r - s) = 10): a motor node
    // whose seam falls within detail::seam_split_range posterior sds (1-2% of Linex's nodes)
    // has its posterior line cut there, 8 Gauss–Legendre nodes per piece in the logistic scale
    // (models/kink_split.hpp) instead of the Gauss–Hermite nodes, which converge slowly across
    // the seam: the rule's optimal action erred by up to 1.4% against a fine quadrature on
    // 2,000 points, with the cut by 0.09% (docs/families.md, "Linex's seam").
    r.seam = float(cost.seam);
    for (int q = 0; q < gl.n; ++q) {
      r.seam_node.push_back(float(0.5 * (1 + gl.x[std::size_t(q)])));
      r.seam_weight.push_back(float(0.5 * gl.w[std::size_t(q)]));
    }
    r.seam_nodes = r.seam_node.size();
    r.seam_node.resize(16, 0.5f);  // whole SIMD batches
    r.seam_weight.resize(16, 0.0f);
  }
  return r;
}

double rule_expected_cost(const CostInfo& cost, const ObjectiveRule& rule, double mu, double sp, double a, double sd,
                          const double* p) {
  double e = 0;
  if (rule.motor == MotorModel::gaussian && rule.split_lines) {  // r = a + sd u, both lines cut (models/kink_split.hpp)
    double ve, cve;
    detail::kink_split_point((std::log(a) - mu) / sp, ve, cve);
    for (int se = 0; se < 2; ++se)
      for (std::size_t i = 0; i < rule.e_nodes; ++i) {
        double we;
        const double s = std::exp(mu + sp * detail::kink_split_node(se, ve, cve, double(rule.e_node[i]), we));
        const double uk = (s - a) / sd;
        double vu, cvu;
        detail::kink_split_point(uk, vu, cvu);
        for (int su = 0; su < 2; ++su) {
          if (su == 0 ? uk < -detail::kink_split_skip : uk > detail::kink_split_skip) continue;  // as the kernel
          for (std::size_t j = 0; j < rule.u_node.size(); ++j) {
            double wu;
            const double u = detail::kink_split_node(su, vu, cvu, double(rule.u_node[j]), wu);
            e += we * double(rule.e_weight[i]) * wu * double(rule.u_weight[j]) * cost.loss(s, a + sd * u, p);
          }
        }
      }
    return e;
  }
  const bool seam_on = rule.seam > 0 && rule.seam_nodes > 0 && !(rule.split > 0);
  const detail::SeamCut<double> seam(seam_on ? rule.seam : 0.0, seam_on ? p[0] : 0.0, mu, sp, detail::seam_split_range);
  // The motor node's response: r = a + sd u under gaussian motor noise (a truncated cost's
  // product rule), r = a exp(sd u) otherwise.
  const bool linear = rule.motor == MotorModel::gaussian;
  auto response = [&](double u) { return linear ? a + sd * u : a * std::exp(sd * u); };
  for (std::size_t i = 0; i < rule.e_nodes; ++i) {
    const double s = std::exp(mu + sp * double(rule.e_node[i])), wi = double(rule.e_weight[i]);
    if (rule.split > 0) {  // e_node[i] is w's node; z split at the kink (FusedArgs::u_split)
      const double L = rule.split, tau = std::sqrt(sd * sd + sp * sp), wn = double(rule.e_node[i]);
      const double zk = std::clamp((mu - std::log(a)) / tau, -L, L);
      for (const double end : {-L, L})  // from the kink outwards
        for (std::size_t j = 0; j < rule.u_node.size(); ++j) {
          const double z = zk + (end - zk) * double(rule.u_node[j]);
          const double ee = (sd * wn - sp * z) / tau, u = (sp * wn + sd * z) / tau;
          const double w = std::abs(end - zk) * double(rule.u_weight[j]) * std::exp(-0.5 * z * z) / std::sqrt(2 * std::numbers::pi);
          e += wi * w * cost.loss(std::exp(mu + sp * ee), a * std::exp(sd * u), p);
        }
    } else {
      for (std::size_t j = 0; j < rule.u_node.size(); ++j) {
        const double r = response(double(rule.u_node[j]));
        if (!seam.cuts(r)) e += wi * double(rule.u_weight[j]) * cost.loss(s, r, p);
      }
    }
  }
  if (seam.on)  // the motor nodes cut at their seam, as the kernel's (models/train_kernel.hpp)
    for (std::size_t j = 0; j < rule.u_node.size(); ++j) {
      const double r = response(double(rule.u_node[j]));
      if (!seam.cuts(r)) continue;
      double v, cv;
      detail::kink_split_point(seam.cut(r), v, cv);
      for (int side = 0; side < 2; ++side)
        for (std::size_t q = 0; q < rule.seam_nodes; ++q) {
          double w;
          const double x = detail::kink_split_node(side, v, cv, double(rule.seam_node[q]), w);
          e += double(rule.u_weight[j]) * w * double(rule.seam_weight[q]) * cost.loss(std::exp(mu + sp * x), r, p);
        }
    }
  return e;
}

Tensor expected_cost(const CostInfo& cost, Tensor a, const ExpectedCostInputs& in) {
  if (a.rows() != 1) throw std::invalid_argument("expected_cost: actions must be 1 x n");
  const std::size_t n = a.cols();
  detail::FusedArgs args;
  args.n = n;
  args.K = in.mc;
  args.mu_post = in.mu_post;
  args.sigma_post = in.sigma_post;
  args.a = a.values().data();
  args.sigma_r = in.sigma_r;
  args.params = in.params;
  args.seed = in.seed;
  args.stream = in.stream;
  args.u_clamp = float(cost.motor_truncation);
  args.u_scale = float(cost.motor_importance_scale);
  args.e_fixed = in.e;
  args.u_fixed = in.u;
  args.motor = int(in.motor);
  args.sigma_a = in.sigma_a;
  if (in.rule && !in.rule->empty()) {
    if ((in.motor == MotorModel::gaussian) != (in.rule->motor == MotorModel::gaussian))
      throw std::invalid_argument("expected_cost: the rule is for another motor model");
    args.u_nodes = in.rule->u_node.size();
    args.u_split = in.rule->split;
    args.u_node = in.rule->u_node.data();
    args.u_weight = in.rule->u_weight.data();
    args.e_nodes = in.rule->e_nodes;
    args.e_node = in.rule->e_node.data();
    args.e_weight = in.rule->e_weight.data();
    if (in.rule->seam > 0 && args.u_nodes > detail::seam_max_motor_nodes)
      throw std::invalid_argument("expected_cost: a rule cut at a seam has at most 64 motor nodes, got " +
                                  std::to_string(args.u_nodes));
    args.seam = in.rule->seam;
    args.seam_nodes = in.rule->seam_nodes;
    args.seam_node = in.rule->seam_node.data();
    args.seam_weight = in.rule->seam_weight.data();
    args.split_lines = in.rule->split_lines;
  }
  // The kernel yields dloss/da with the loss; the node keeps it for the reverse pass.
  auto* dl = static_cast<float*>(Tape::current().allocate(n * sizeof(float)));
  args.dloss_da = dl;
  return tensor_custom(
      {a}, 1, n,
      [&](std::span<float> y) {
        args.loss = y.data();
        cost.fused(args);
      },
      [a, dl](std::span<const float>, std::span<const float> dy) {
        const std::span<float> da = a.adjoints();
        for (std::size_t i = 0; i < da.size(); ++i) da[i] += dy[i] * dl[i];
      });
}

Tensor detail::expected_cost_linear_node(const CostInfo& cost, Tensor a, const float* mu, const float* sp, const float* sa,
                                         const float* p) {
  if (a.rows() != 1) throw std::invalid_argument("expected_cost_linear_node: actions must be 1 x n");
  const std::size_t n = a.cols(), np = cost.params.size();
  auto* dl = static_cast<float*>(Tape::current().allocate(n * sizeof(float)));
  const LinearRule& rule = linear_training_rule(cost);
  return tensor_custom(
      {a}, 1, n,
      [&](std::span<float> y) {
        const float* av = a.values().data();
        double q[max_cost_params > 0 ? max_cost_params : 1];
        for (std::size_t i = 0; i < n; ++i) {
          for (std::size_t j = 0; j < np; ++j) q[j] = double(p[j * n + i]);
          double g;
          y[i] = float(expected_cost_linear(cost, mu[i], sp[i], sa[i], q, av[i], &g, rule.opt, rule.panels));
          dl[i] = float(g);
        }
      },
      [a, dl](std::span<const float>, std::span<const float> dy) {
        const std::span<float> da = a.adjoints();
        for (std::size_t i = 0; i < da.size(); ++i) da[i] += dy[i] * dl[i];
      });
}

namespace {
/// Gaussian perception: the objective is log F, so F must be positive: checked at actions
/// mu_post + {-1, 0, 1} (sigma_post + sigma_a) of 256 training points.
void check_positive_linear_cost(const CostInfo& cost, const TrainingPrior& prior) {
  const std::size_t d = theta_size(cost, MotorSpec{MotorModel::gaussian, false});
  std::vector<double> th(d);
  const detail::LinearRule& rule = detail::linear_training_rule(cost);
  Rng rng(0x9051, 1);
  for (int i = 0; i < 256; ++i) {
    double m;
    detail::sample_linear_training_point(cost, prior, rng, th, m);
    const double w = th[1] * th[1] / (th[0] * th[0] + th[1] * th[1]), mu = w * m + (1 - w) * th[2];
    const double sp = th[0] * th[1] / std::hypot(th[0], th[1]), sa = th[d - 1];
    for (double f : {-1.0, 0.0, 1.0}) {
      const double e = detail::expected_cost_linear(cost, mu, sp, sa, th.data() + 4, mu + f * (sp + sa), nullptr, rule.opt,
                                                    rule.panels);
      if (!(e > 0))
        throw ArgumentError("cost", "'" + cost.name + "' under gaussian perception: training minimises the log of the "
                                    "expected cost, which must be positive, but it is " + std::to_string(e) +
                                    " at a training point (add a constant to the cost: that changes no optimal action)");
    }
  }
}
} // namespace

struct Trainer::Impl {
  TrainSettings set;
  const CostInfo* cost = nullptr;
  NetworkHead head = NetworkHead::softplus;
  MlpLayout layout;
  ParameterSet net;  // W_0, b_0, W_1, b_1, ...: MlpLayout's order
  std::vector<InputScaling> scaling;
  std::size_t n_in = 0, n_feat = 0, n_cp = 0, n_chunks = 0;  // theta size, MLP inputs, cost params
  fvec grad;
  std::vector<ChunkWork> work;
  // The optimiser (engine/optim.hpp), gradients clamped to ±1e15 to keep g² finite in float
  // for the second moment with heavy-tailed costs.
  std::unique_ptr<Adam<float>> adam;
  std::unique_ptr<RmsProp<float>> rms;
  LrSchedule schedule;
  std::size_t step = 0;
  EvalSet eval;
  double last_rmse = NAN;
  ObjectiveRule rule;     // the objective's quadrature rule (empty: Monte Carlo draws)
  bool linear = false;    // gaussian perception: the linear mupost head, log E[cost] by expected_cost_linear's rule

  void init_chunk(ChunkWork& w) const {
    w.x.assign(n_feat * chunk, 0.0f);
    for (fvec* v : {&w.logm, &w.mu, &w.sp, &w.sr, &w.wt, &w.sa, &w.kap}) v->assign(chunk, 0.0f);
    w.cp.assign(std::max<std::size_t>(n_cp, 1) * chunk, 0.0f);
    w.dparams.assign(layout.n_params(), 0.0f);
    w.theta.assign(chunk * n_in, 0.0);
    w.features.assign(n_in, 0.0);
  }

  /// Fills the chunk's inputs from theta rows (w.theta) and measurements.
  void set_inputs(ChunkWork& w, const double* m) const {
    for (std::size_t c = 0; c < chunk; ++c) {
      const double* th = w.theta.data() + c * n_in;
      head_features(head, {th, n_in}, w.features, m[c], cost, linear);
      for (std::size_t i = 0; i < n_feat; ++i) {
        const auto& sc = scaling[i];
        const double t = sc.log ? std::log(w.features[i]) : w.features[i];
        w.x[i * chunk + c] = float((t - sc.shift) / sc.scale);
      }
      if (linear) {  // linear space: mu_post = w m + (1 - w) mu_0
        const double v = th[0] * th[0] + th[1] * th[1], wm = th[1] * th[1] / v;
        double dk[8];
        w.logm[c] = float(m[c]);
        w.mu[c] = float(wm * m[c] + (1 - wm) * th[2]);
        w.sp[c] = float(th[0] * th[1] / std::sqrt(v));
        const bool scaled = cost->log_scale != nullptr;
        w.kap[c] = float(heads::linear_output_scale(th, n_in, m[c], scaled ? cost->log_scale(th + 4, dk) : 0.0, scaled));
      } else {
        w.logm[c] = float(std::log(m[c]));
        const auto post = actor_posterior(m[c], th[0], th[1], th[2]);
        w.mu[c] = float(post.mu_post);
        w.sp[c] = float(post.sigma_post);
      }
      w.sr[c] = float(th[3]);
      for (std::size_t j = 0; j < n_cp; ++j) w.cp[j * chunk + c] = float(th[4 + j]);
      if (set.motor != MotorModel::lognormal) w.sa[c] = float(th[4 + n_cp]);
    }
  }

  /// Draws the chunk of batch `step`, chunk index `ci` (stream per (seed, step, chunk)), and
  /// the loss weights: 1/B, times exp(-p mu_post) for a cost homogeneous of degree p (see
  /// CostInfo); 0 for the padding.
  void sample_chunk(ChunkWork& w, std::uint64_t step_id, std::size_t ci) const {
    Rng rng(set.seed, step_id * n_chunks + ci);
    const std::size_t first = ci * chunk;
    w.n_valid = std::min(chunk, set.batch - first);
    double m[chunk];
    for (std::size_t c = 0; c < w.n_valid; ++c) {
      if (linear) detail::sample_linear_training_point(*cost, set.prior, rng, {w.theta.data() + c * n_in, n_in}, m[c]);
      else sample_training_point(*cost, set.motor, set.prior, rng, {w.theta.data() + c * n_in, n_in}, m[c]);
    }
    for (std::size_t c = w.n_valid; c < chunk; ++c) {  // padding: copies of the first sample
      std::copy_n(w.theta.data(), n_in, w.theta.data() + c * n_in);
      m[c] = m[0];
    }
    set_inputs(w, m);
    const int p = cost->homogeneity_degree;
    const float inv_b = 1.0f / float(set.batch);
    const bool curv = head == NetworkHead::mupost && cost->curvature_scale;
    for (std::size_t c = 0; c < chunk; ++c) {
      if (c >= w.n_valid) {
        w.wt[c] = 0.0f;
      } else if (!rule.empty() || linear) {
        w.wt[c] = inv_b;  // the log objective needs no scale weight
      } else if (curv) {
        const double* th = w.theta.data() + c * n_in;
        const double st = std::sqrt(double(w.sp[c]) * w.sp[c] + th[3] * th[3]);
        w.wt[c] = float(double(inv_b) / cost->curvature_scale(std::exp(double(w.mu[c])), st, th + 4));
      } else {
        w.wt[c] = p == 0 ? inv_b : std::exp(-float(p) * w.mu[c]) * inv_b;
      }
    }
  }

  /// The action network on the tape for a chunk: swish MLP and head, weights read from P (the
  /// parameters or a snapshot of them), gradients written to G (nullptr: forward only); the
  /// parameter leaves are appended to `leaves` when given.
  Tensor action(const ChunkWork& w, const float* P, float* G, std::vector<Tensor>* leaves = nullptr) const {
    const std::size_t L = layout.n_layers();
    Tensor h = tensor_view(w.x.data(), n_feat, chunk);
    for (std::size_t l = 0; l < L; ++l) {
      const Tensor W = net.leaf(2 * l, P, G), b = net.leaf(2 * l + 1, P, G);
      if (leaves) leaves->insert(leaves->end(), {W, b});
      h = affine(W, h, b);
      if (l + 1 < L) h = swish(h);
    }
    if (linear) return heads::linear_action(row(h, 0), tensor_view(w.mu.data(), 1, chunk), tensor_view(w.kap.data(), 1, chunk));
    return head_action(head, h, tensor_view(w.logm.data(), 1, chunk), tensor_view(w.mu.data(), 1, chunk));
  }

  /// The chunk's share of the batch objective, sum_c wt_c E[cost]_c, on the tape; its reverse
  /// pass leaves the gradient w.r.t. the weights in w.dparams (stored, not added).
  void chunk_objective(ChunkWork& w, const float* P, std::uint64_t step_id, std::size_t ci, const float* e,
                       const float* u) const {
    Tape::Scope scope;
    ExpectedCostInputs in;
    in.mu_post = w.mu.data();
    in.sigma_post = w.sp.data();
    in.sigma_r = w.sr.data();
    in.params = w.cp.data();
    in.motor = set.motor;
    in.sigma_a = w.sa.data();
    in.mc = set.mc;
    // A different seed domain from the theta sampler, same (step, chunk) stream.
    in.seed = detail::mix64(set.seed ^ 0x6a09e667f3bcc909ULL);
    in.stream = step_id * n_chunks + ci;
    const std::size_t off = ci * chunk * set.mc;
    in.e = e ? e + off : nullptr;
    in.u = u ? u + off : nullptr;
    in.rule = &rule;
    w.leaves.clear();
    const Tensor a = action(w, P, w.dparams.data(), &w.leaves);
    // With the rule the expectation is exact, and the sample's term is its log (weights 1/B,
    // sample_chunk): the same minimiser per sample, scale-free (docs/training.md).
    // Gaussian perception: E l(mu_post + sp e, a + sa u) by expected_cost_linear's rule, its log.
    const Tensor y = linear ? detail::expected_cost_linear_node(*cost, a, w.mu.data(), w.sp.data(), w.sa.data(), w.cp.data())
                            : expected_cost(*cost, a, in);
    const Var loss = dot(rule.empty() && !linear ? y : log(y), tensor_view(w.wt.data(), 1, chunk));
    backward(loss);
    w.loss = loss.value();
    // The leaves wrote their gradients into w.dparams; one no gradient reached has zero.
    for (const Tensor& p : w.leaves)
      if (!p.adjoint_set()) std::fill_n(p.data().adj, p.size(), 0.0f);
  }

  // ---- Parallel batch gradient ----------------------------------------------------------
  // The caller and n_threads - 1 workers (std::thread) share the chunks of a step. A step is
  // published as an even `epoch` (odd while the caller rewrites the job); chunk states hold
  // epoch * 4 + {0 free, 1 claimed, 2 being published, 3 done}, so a late worker cannot
  // claim or publish into a newer step. Workers read the weights from a snapshot buffer they
  // pin, and the caller only rewrites unpinned snapshots: n_threads buffers always leave one
  // free. When the caller has no chunk left to claim and a worker's chunk is late (a worker
  // descheduled on a busy machine), the caller computes that chunk itself; whichever copy
  // is published first is used. Every chunk's numbers depend only on (weights, seed, step,
  // chunk) and the sums over chunks run in chunk order, so results do not depend on the
  // thread count or on who computed what.
  struct Job {
    std::atomic<std::uint64_t> step_id{0};
    std::atomic<const float*> e{nullptr}, u{nullptr};
    std::atomic<std::size_t> snap{0};
  };
  int n_threads = 1;
  std::vector<ChunkWork> scratch;  // per thread slot (0: the caller)
  std::vector<fvec> chunk_grad;    // per chunk: published gradient contribution
  std::vector<double> chunk_loss;  // per chunk: published summed loss
  std::unique_ptr<std::atomic<std::uint64_t>[]> chunk_state;
  std::vector<fvec> snap;          // weight snapshots read by the workers
  std::unique_ptr<std::atomic<int>[]> pins;
  Job job;
  std::atomic<std::uint64_t> epoch{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  double chunk_seconds = 30e-6;    // running mean of the caller's time per chunk

  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  void compute_chunk(ChunkWork& w, const float* P, std::uint64_t step_id, std::size_t ci, const float* e,
                     const float* u) const {
    sample_chunk(w, step_id, ci);
    chunk_objective(w, P, step_id, ci, e, u);
  }

  /// Publishes w's result as chunk ci of epoch ep unless another copy was published first.
  void publish(std::size_t ci, std::uint64_t ep, ChunkWork& w) {
    std::uint64_t cur = chunk_state[ci].load();
    while (cur == ep * 4 || cur == ep * 4 + 1)
      if (chunk_state[ci].compare_exchange_weak(cur, ep * 4 + 2)) {
        std::swap(w.dparams, chunk_grad[ci]);  // w.dparams is overwritten by the next chunk_objective()
        chunk_loss[ci] = w.loss;
        chunk_state[ci].store(ep * 4 + 3, std::memory_order_release);
        return;
      }
  }

  /// Claims and computes free chunks of epoch ep until none is left.
  void run_chunks(int slot, std::uint64_t ep, const float* P, std::uint64_t step_id, const float* e, const float* u) {
    for (std::size_t ci = 0; ci < n_chunks; ++ci) {
      std::uint64_t free_state = ep * 4;
      if (!chunk_state[ci].compare_exchange_strong(free_state, ep * 4 + 1)) continue;
      compute_chunk(scratch[std::size_t(slot)], P, step_id, ci, e, u);
      publish(ci, ep, scratch[std::size_t(slot)]);
    }
  }

  void worker_loop(int slot) {
    using clock = std::chrono::steady_clock;
    std::uint64_t seen = 0;
    for (;;) {
      // Wait for a new step: spin for a while (steps follow each other closely), then sleep.
      std::uint64_t ep = epoch.load();
      const auto t0 = clock::now();
      for (int spins = 0; !stop.load(std::memory_order_relaxed) && (ep == seen || (ep & 1)); ep = epoch.load()) {
        if (++spins % 64 == 0 && clock::now() - t0 > std::chrono::microseconds(200)) epoch.wait(ep);
        else cpu_relax();
      }
      if (stop.load()) return;
      seen = ep;
      const std::uint64_t step_id = job.step_id.load();
      const float* e = job.e.load();
      const float* u = job.u.load();
      const std::size_t sn = job.snap.load();
      pins[sn].fetch_add(1);
      if (epoch.load() == ep) run_chunks(slot, ep, snap[sn].data(), step_id, e, u);  // else: stale, skip
      pins[sn].fetch_sub(1);
    }
  }

  void start_workers() {
    n_threads = set.threads > 0 ? set.threads : int(std::max(1u, std::thread::hardware_concurrency()));
#if defined(_OPENMP)
    if (set.threads <= 0) n_threads = omp_get_max_threads();
#endif
    n_threads = int(std::min<std::size_t>(std::size_t(n_threads), n_chunks));
    scratch.resize(std::size_t(n_threads));
    for (auto& w : scratch) init_chunk(w);
    chunk_grad.assign(n_chunks, fvec(layout.n_params(), 0.0f));
    chunk_loss.assign(n_chunks, 0.0);
    chunk_state = std::make_unique<std::atomic<std::uint64_t>[]>(n_chunks);
    for (std::size_t ci = 0; ci < n_chunks; ++ci) chunk_state[ci].store(0);
    if (n_threads > 1) {
      snap.assign(std::size_t(n_threads), fvec(layout.n_params(), 0.0f));
      pins = std::make_unique<std::atomic<int>[]>(std::size_t(n_threads));
      for (int t = 0; t < n_threads; ++t) pins[std::size_t(t)].store(0);
    }
    for (int t = 1; t < n_threads; ++t) workers.emplace_back([this, t] { worker_loop(t); });
  }

  void stop_workers() {
    stop.store(true);
    epoch.fetch_add(2);
    epoch.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
  }

  /// Loss and gradient (into grad) of the batch of `step_id` at the current weights.
  double batch_gradient(std::uint64_t step_id, const float* e, const float* u) {
    using clock = std::chrono::steady_clock;
    const std::uint64_t ep = epoch.load() + 2;
    const float* P = net.values().data();
    if (n_threads > 1) {
      epoch.store(ep - 1);  // rewriting the job
      std::size_t sn = 0;
      while (pins[sn].load() != 0) ++sn;  // at most n_threads - 1 are pinned
      std::copy(net.values().begin(), net.values().end(), snap[sn].begin());
      P = snap[sn].data();
      job.step_id.store(step_id);
      job.e.store(e);
      job.u.store(u);
      job.snap.store(sn);
    }
    for (std::size_t ci = 0; ci < n_chunks; ++ci) chunk_state[ci].store(ep * 4);
    epoch.store(ep);
    if (n_threads > 1) epoch.notify_all();

    // The caller's share, timed to know how long a chunk takes.
    const auto t0 = clock::now();
    std::size_t mine = 0;
    for (std::size_t ci = 0; ci < n_chunks; ++ci) {
      std::uint64_t free_state = ep * 4;
      if (!chunk_state[ci].compare_exchange_strong(free_state, ep * 4 + 1)) continue;
      compute_chunk(scratch[0], P, step_id, ci, e, u);
      publish(ci, ep, scratch[0]);
      ++mine;
    }
    const auto t1 = clock::now();
    if (mine > 0) chunk_seconds = 0.9 * chunk_seconds + 0.1 * std::chrono::duration<double>(t1 - t0).count() / double(mine);
    // Chunks still with the workers: wait about one chunk's time, then compute them here.
    const auto patience = std::chrono::duration<double>(1.5 * chunk_seconds + 5e-6);
    for (std::size_t ci = 0; ci < n_chunks; ++ci) {
      for (int spins = 0; chunk_state[ci].load(std::memory_order_acquire) != ep * 4 + 3; ++spins) {
        if (spins % 64 == 63 && chunk_state[ci].load() == ep * 4 + 1 && clock::now() - t1 > patience) {
          compute_chunk(scratch[0], P, step_id, ci, e, u);
          publish(ci, ep, scratch[0]);
        } else {
          cpu_relax();
        }
      }
    }

    // Fixed-order sums over chunks: the result does not depend on who computed what.
    std::copy(chunk_grad[0].begin(), chunk_grad[0].end(), grad.begin());
    for (std::size_t ci = 1; ci < n_chunks; ++ci) {
      const float* d = chunk_grad[ci].data();
      for (std::size_t p = 0; p < grad.size(); ++p) grad[p] += d[p];
    }
    double loss = 0.0;
    for (double l : chunk_loss) loss += l;
    return loss;
  }

  ~Impl() { stop_workers(); }
};

void check_head(const CostInfo& cost, NetworkHead head) {
  if (head == NetworkHead::posterior && !cost.homogeneous())
    throw ArgumentError("head", "the posterior head needs a cost homogeneous in (s, r); '" + cost.name +
                                    "' is not, so its optimal action is not c(theta) exp(mu_post) (use the mupost head)");
}

void check_head(const CostInfo& cost, NetworkHead head, MotorModel motor) {
  check_head(cost, head);
  if (motor == MotorModel::lognormal) return;
  if (head == NetworkHead::posterior)
    throw ArgumentError("head", "the posterior head leaves out sigma_a; with " + std::string(to_string(motor)) +
                                    " motor noise use the mupost, softplus or power head");
}

const char* default_head_name(const CostInfo& cost, MotorModel motor) {
  if (motor == MotorModel::lognormal) return default_head_name(cost);
  // a = exp(mu_post + g(sigma_post, sigma_r, cost params, sigma_a, mu_post)): for a homogeneous
  // cost the action scales with exp(mu_post) once sigma_a does, which the mupost head's MLP sees;
  // for a cost with a length scale kappa, a / kappa is a function of (sigma_post, sigma_r,
  // sigma_a / kappa, mu_post - log kappa), the features of its mupost head.
  return "mupost";
}

std::size_t default_training_steps(const CostInfo& cost, MotorModel motor, PerceptionModel perception) {
  // Measured (seed 1, 2,000 points): Linex x generalized 1.75% max (2.17% at seed 7), x gaussian
  // 3.3% (1.98% under gaussian perception), AbsoluteCostQuadraticEffort under gaussian perception
  // 2.06%; at 120,000 steps 1.0-1.4% over seeds 1-3 (and 7), in 23-37 s on 2 idle threads.
  const bool seam_wide = cost.seam > 0 && motor != MotorModel::lognormal;
  const bool kink_linear = cost.action_kink && perception == PerceptionModel::gaussian;
  return seam_wide || kink_linear ? 120000 : 60000;
}

Trainer::Trainer(const TrainSettings& s) : impl_(std::make_unique<Impl>()) {
  Impl& I = *impl_;
  I.set = s;
  I.cost = &find_cost(s.cost);
  if (I.set.steps == 0) I.set.steps = default_training_steps(*I.cost, s.motor, s.perception);
  I.head = parse_network_head(s.head != "auto" ? s.head : default_head_name(*I.cost, s.motor));
  check_head(*I.cost, I.head, s.motor);
  if (s.perception == PerceptionModel::vonmises)  // docs/families.md, "Circular tasks"
    throw ArgumentError("perception", "vonmises: the supported circular costs all have the closed-form action mu_post; "
                                      "there is no network to train (fit with infer --perception vonmises directly)");
  if (s.perception == PerceptionModel::gaussian) {  // docs/training.md, "Gaussian perception"
    if (s.motor != MotorModel::gaussian)
      throw ArgumentError("motor", std::string(to_string(s.motor)) + ": gaussian perception needs gaussian motor noise (--motor gaussian)");
    if (I.head != NetworkHead::mupost)
      throw ArgumentError("head", std::string(to_string(I.head)) + ": gaussian perception trains the mupost head (--head mupost or auto)");
    I.linear = true;
  }
  if (s.batch < 1) throw ArgumentError("batch", "must be positive");
  if (s.mc < 1) throw ArgumentError("mc", "must be positive");
  if (s.hidden.empty()) throw ArgumentError("hidden", "at least one hidden layer");
  for (int h : s.hidden)
    if (h < 1 || h > 4096) throw ArgumentError("hidden", "layer size " + std::to_string(h) + " out of range 1..4096");
  if (!(s.lr > 0)) throw ArgumentError("lr", "must be positive");
  if (s.optimizer != "adam" && s.optimizer != "rmsprop")
    throw ArgumentError("optimizer", "'" + s.optimizer + "' (expected adam or rmsprop)");
  I.n_in = action_theta_size(*I.cost, MotorSpec{s.motor, false});
  I.n_cp = I.cost->params.size();
  I.n_feat = head_input_count(I.head, I.n_in, I.cost);
  I.layout.sizes.push_back(int(I.n_feat));
  for (int h : s.hidden) I.layout.sizes.push_back(h);
  I.layout.sizes.push_back(3);
  I.scaling = I.linear ? detail::linear_input_scaling(*I.cost, s.prior) : training_input_scaling(*I.cost, s.prior, I.head, s.motor);
  I.n_chunks = (s.batch + chunk - 1) / chunk;
  I.work.resize(I.n_chunks);
  for (auto& w : I.work) I.init_chunk(w);

  // Init: N(0, 1/fan_in) weights (swish keeps roughly unit scale), zero biases; the output
  // layer starts small with biases so that a ≈ m^0.88 (power head) or softplus(m^0.88) at the start.
  const std::size_t L = I.layout.n_layers();
  for (std::size_t l = 0; l < L; ++l) {
    const std::size_t W = I.net.add(std::size_t(I.layout.sizes[l + 1]), std::size_t(I.layout.sizes[l]));
    const std::size_t b = I.net.add(std::size_t(I.layout.sizes[l + 1]), 1);
    BACTOR_ASSERT(I.net.offset(W) == I.layout.weight_offset(l) && I.net.offset(b) == I.layout.bias_offset(l));
  }
  BACTOR_ASSERT(I.net.size() == I.layout.n_params());
  const std::span<float> params = I.net.values();
  I.grad.assign(I.layout.n_params(), 0.0f);
  Rng rng(s.seed, 0xfffffffffffffff0ULL);
  for (std::size_t l = 0; l < L; ++l) {
    const int in = I.layout.sizes[l], out = I.layout.sizes[l + 1];
    const double sd = (l + 1 < L ? 1.0 : 0.1) / std::sqrt(double(in));
    float* w = params.data() + I.layout.weight_offset(l);
    for (int k = 0; k < in * out; ++k) w[k] = float(sd * rng.normal());
  }
  float* bias_out = params.data() + I.layout.bias_offset(L - 1);
  bias_out[0] = power_law_head(I.head) ? 0.0f : float(std::log(std::expm1(1.0)));  // k = 1
  bias_out[1] = 2.0f;                               // m^sigmoid(2) = m^0.88
  bias_out[2] = 0.0f;

  if (s.optimizer == "adam")
    I.adam = std::make_unique<Adam<float>>(params.size(), 0.9, 0.999, 1e-8, 1e15f);
  else
    I.rms = std::make_unique<RmsProp<float>>(params.size(), 0.99, 1e-8, 1e15f);
  I.schedule.kind = s.schedule;
  I.schedule.base = s.lr;
  I.schedule.total = I.set.steps;
  I.schedule.final_fraction = s.final_lr_fraction;
  I.schedule.decay = s.final_lr_fraction;
  if (s.quadrature && !I.linear) I.rule = objective_rule(*I.cost, s.motor, s.mc);
  if (!I.rule.empty())
    if (const double e = nonpositive_expected_cost(*I.cost, s.motor, s.prior, I.rule); !(e > 0)) {
      // Under log-normal motor noise such a cost keeps the Monte Carlo draws (as before the rule
      // served it); the generalized and gaussian models have no unbiased alternative as good.
      if (s.motor != MotorModel::lognormal)
        throw ArgumentError("cost", "'" + I.cost->name + "' under " + to_string(s.motor) +
                                        " motor noise: training minimises the log of the expected cost, which must be "
                                        "positive, but it is " + std::to_string(e) +
                                        " at a training point (add a constant to the cost: that changes no optimal action)");
      I.rule = ObjectiveRule{};
    }
  if (I.linear) check_positive_linear_cost(*I.cost, s.prior);
  I.start_workers();
  I.eval = I.linear ? detail::make_linear_eval_set(*I.cost, s.eval_points, s.seed, 0xffffffffffffff00ULL, s.prior, I.n_threads)
                    : make_eval_set(*I.cost, s.motor, s.eval_points, s.seed, 0xffffffffffffff00ULL, s.prior, I.n_threads);
}

Trainer::~Trainer() = default;

double Trainer::step() {
  Impl& I = *impl_;
  const double loss = I.batch_gradient(I.step, nullptr, nullptr);
  // A non-finite objective or gradient would leave a network that answers nothing (Adam's
  // moments poisoned): stop with the step and the model rather than write it.
  if (!std::isfinite(loss) || !std::all_of(I.grad.begin(), I.grad.end(), [](float v) { return std::isfinite(v); }))
    throw std::runtime_error("training diverged: the objective or its gradient is not finite at step " +
                             std::to_string(I.step + 1) + " (cost " + I.set.cost + ", " + to_string(I.set.motor) +
                             " motor noise, " + to_string(I.set.perception) +
                             " perception); no network written. The cost may be undefined or overflow somewhere in the training prior's"
                             " range of (s, r) (check a formula), or the optimisation diverged (try a lower --lr)");
  const double lr = I.schedule.at(I.step);
  if (I.adam)
    I.adam->step(I.net.values(), I.grad, lr);
  else
    I.rms->step(I.net.values(), I.grad, lr);
  ++I.step;
  return loss;
}

std::size_t Trainer::steps_done() const { return impl_->step; }
const EvalSet& Trainer::eval_set() const { return impl_->eval; }
std::span<float> Trainer::parameters() { return impl_->net.values(); }
const MlpLayout& Trainer::layout() const { return impl_->layout; }
const TrainSettings& Trainer::settings() const { return impl_->set; }

double Trainer::objective(std::uint64_t batch_step, std::span<const float> e, std::span<const float> u,
                          std::span<float> grad) {
  Impl& I = *impl_;
  if (I.set.batch % chunk != 0) throw std::invalid_argument("objective(): batch must be a multiple of 32");
  if (e.size() != I.set.batch * I.set.mc || u.size() != e.size()) throw std::invalid_argument("objective(): draws size");
  const double loss = I.batch_gradient(batch_step, e.data(), u.data());
  std::copy(I.grad.begin(), I.grad.end(), grad.begin());
  return loss;
}

void Trainer::actions(std::span<const double> theta, std::span<const double> m, std::span<double> a) {
  Impl& I = *impl_;
  const std::size_t n = m.size();
  const std::size_t n_chunks = (n + chunk - 1) / chunk;
  const std::size_t n_work = I.work.size();
  // Reuse the chunk buffers (not the workers' scratch, which a late worker may still be
  // writing): work item t handles chunks t, t + n_work, ... The thread count is set on the
  // region (no process-wide omp_set_num_threads).
#pragma omp parallel for schedule(static) num_threads(I.n_threads) if (I.n_threads > 1)
  for (std::ptrdiff_t t = 0; t < std::ptrdiff_t(n_work); ++t) {
    ChunkWork& w = I.work[std::size_t(t)];
    for (std::size_t ci = std::size_t(t); ci < n_chunks; ci += n_work) {
      const std::size_t first = ci * chunk, nv = std::min(chunk, n - first);
      double mm[chunk];
      for (std::size_t c = 0; c < chunk; ++c) {
        const std::size_t src = first + (c < nv ? c : 0);
        std::copy_n(theta.data() + src * I.n_in, I.n_in, w.theta.data() + c * I.n_in);
        mm[c] = m[src];
      }
      I.set_inputs(w, mm);
      Tape::Scope scope;
      const Tensor act = I.action(w, I.net.values().data(), nullptr);  // forward only
      for (std::size_t c = 0; c < nv; ++c) a[first + c] = double(act.value(c));
    }
  }
}

void Trainer::eval_errors(double& rmse, double& max_abs, double& max_rel) {
  const EvalSet& e = impl_->eval;
  std::vector<double> a(e.size());
  actions(e.theta, e.m, a);
  double ss = 0.0;
  max_abs = max_rel = 0.0;
  for (std::size_t i = 0; i < e.size(); ++i) {
    const double d = std::abs(a[i] - e.a_star[i]);
    ss += d * d;
    max_abs = std::max(max_abs, d);
    // Gaussian perception: a* may be near 0, relative to |a*| + sigma_post + sigma_a.
    const double scale = impl_->linear ? detail::linear_error_scale({e.theta.data() + i * e.n_inputs, e.n_inputs},
                                                                      e.n_inputs - 1, e.a_star[i])
                                       : e.a_star[i];
    max_rel = std::max(max_rel, d / scale);
  }
  rmse = e.size() ? std::sqrt(ss / double(e.size())) : NAN;
  impl_->last_rmse = rmse;
}

double Trainer::eval_rmse() {
  double r, ma, mr;
  eval_errors(r, ma, mr);
  return r;
}

ActionNetwork Trainer::network() const {
  const Impl& I = *impl_;
  const auto& s = I.set;
  NetworkMetadata meta;
  nlohmann::json priors = nlohmann::json::object();
  priors["sigma"] = priors["sigma_0"] = priors["sigma_r"] = {{"uniform", {s.prior.noise_lo, s.prior.noise_hi}}};
  priors["mu_0"] = {{"uniform", {s.prior.mu0_lo, s.prior.mu0_hi}}};
  priors["s"] = {{"uniform", {s.prior.s_lo, s.prior.s_hi}}};
  for (const auto& p : I.cost->params)
    priors[p.name] = {{p.kind == ParamPrior::Kind::uniform ? "uniform" : "lognormal", {p.a, p.b}}};
  if (s.motor == MotorModel::gaussian) priors.erase("sigma_r");  // not a parameter of that model
  if (s.motor != MotorModel::lognormal) priors["sigma_a"] = {{"uniform", {s.prior.sigma_a_lo, s.prior.sigma_a_hi}}};
  if (I.linear) {  // units of S (detail::sample_linear_training_point)
    priors["sigma_0"] = {{"uniform", {s.prior.noise_lo, detail::linear_sigma0_hi}}};
    priors["mu_0"] = {{"normal", {0.0, 1.0}}};
    priors["s"] = {{"uniform", {-detail::linear_s_range, detail::linear_s_range}}};
  }
  meta["training_priors"] = priors.dump();
  meta["motor"] = to_string(s.motor);
  meta["perception"] = to_string(s.perception);
  meta["training"] = nlohmann::json{{"steps", I.step}, {"batch", s.batch}, {"mc", s.mc}, {"lr", s.lr},
                                    {"optimizer", s.optimizer},
                                    {"schedule", s.schedule == LrSchedule::Kind::cosine        ? "cosine"
                                                 : s.schedule == LrSchedule::Kind::exponential ? "exponential"
                                                                                               : "constant"},
                                    {"final_lr_fraction", s.final_lr_fraction}, {"eval_points", I.eval.size()},
                                    {"expectation", I.linear ? detail::linear_rule_text(*I.cost)
                                                    : I.rule.empty() ? std::string("monte carlo")
                                                    : I.rule.split_lines
                                                        ? std::string("gauss-legendre 2x8 x 2x8 (posterior and motor lines cut at the kink, logistic scale)")
                                                                   : std::string(I.rule.split > 0 ? "gauss-hermite x gauss-legendre (split at the kink, both sides) "
                                                                              : I.cost->motor_truncation > 0 ? "gauss-hermite x gauss-legendre (truncated) "
                                                                                                              : "gauss-hermite ") +
                                                                         std::to_string(I.rule.e_nodes) + "x" + std::to_string(I.rule.u_node.size()) +
                                                                         (I.rule.seam > 0 ? ", posterior line cut at the seam (gauss-legendre 2x8, logistic scale)" : "")}}
                         .dump();
  meta["loss_weight"] = !I.rule.empty() || I.linear ? std::string("1 (of log E[cost])")
                        : I.cost->homogeneity_degree
                            ? "exp(-" + std::to_string(I.cost->homogeneity_degree) + "*mu_post)"
                        : I.head == NetworkHead::mupost && I.cost->curvature_scale
                            ? std::string("1/curvature_scale(exp(mu_post),sqrt(sigma_post^2+sigma_r^2),params)")
                            : std::string("1");
  meta["seed"] = std::to_string(s.seed);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", I.last_rmse);
  meta["eval_rmse"] = std::string(buf);
  meta["bactor_version"] = version();
  return ActionNetwork(I.cost->name, theta_names(*I.cost, MotorSpec{s.motor, false}), I.layout.sizes,
                       std::vector<float>(I.net.values().begin(), I.net.values().end()), I.scaling, meta, I.head);
}

} // namespace bactor
