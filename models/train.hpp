// SPDX-License-Identifier: MIT
// Unsupervised training of the action network (docs/training.md): batches of theta from the
// training prior, reparameterised posterior and motor draws inside one fused SIMD kernel
// per cost family, gradient through the head and a float MLP, Adam or RMSprop.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <bactor/engine/optim.hpp>
#include <bactor/engine/tensor.hpp>
#include <bactor/models/actor.hpp>
#include <bactor/models/costs.hpp>
#include <bactor/models/motor.hpp>
#include <bactor/models/network.hpp>
#include <bactor/models/perception.hpp>

namespace bactor {

struct TrainSettings {
  std::string cost = "QuadraticCost";
  std::vector<int> hidden{16, 64, 16, 8};
  /// Output head: "auto" (posterior for costs homogeneous in (s, r), whose optimal action is
  /// c(theta) exp(mu_post); the mupost head of docs/network.md otherwise), "softplus", "power",
  /// "posterior" or "mupost".
  std::string head = "auto";
  /// Motor noise the actor plans with (models/motor.hpp): the training draws follow it. The
  /// generalized and gaussian models add sigma_a to the network's inputs and need a head that
  /// sees it (mupost for costs without a length scale, softplus, power; "auto":
  /// default_head_name(cost, motor)).
  MotorModel motor = MotorModel::lognormal;
  /// Perception model (models/perception.hpp): the network's metadata records it.
  PerceptionModel perception = PerceptionModel::lognormal;
  /// Optimisation steps; 0: default_training_steps(cost, motor, perception) (60,000 for most
  /// networks; Trainer::settings() holds the number resolved).
  std::size_t steps = 0;
  std::size_t batch = 256;        // B
  std::size_t mc = 128;           // K draws per batch element
  /// Take the objective's expectation by objective_rule()'s product rule where it gives one
  /// (every cost under log-normal and generalized motor noise, the kinked costs and Linex under
  /// gaussian noise); false: Monte Carlo draws everywhere.
  bool quadrature = true;
  double lr = 3e-3;
  std::string optimizer = "adam"; // "adam" or "rmsprop"
  LrSchedule::Kind schedule = LrSchedule::Kind::cosine;
  double final_lr_fraction = 0.01;  // cosine: end at lr * this; exponential: decay factor
  std::uint64_t seed = 1;
  /// Threads for a step (0: omp_get_max_threads()): the caller and threads - 1 worker threads
  /// of the trainer's own share the batch's chunks; evaluation and the evaluation set use
  /// OpenMP regions with num_threads clauses (the process-wide OpenMP setting is left alone).
  int threads = 0;
  std::size_t eval_points = 2000;
  TrainingPrior prior{};
  double progress_seconds = 1.5;  // report interval
  /// When set and it becomes true, train() stops after the current step; the result is then
  /// marked incomplete (TrainResult::complete, metadata "interrupted").
  const std::atomic<bool>* stop = nullptr;
};

/// Fixed evaluation set: theta (row-major, n x n_inputs), measurements and optimal actions
/// (closed form where available, numerical ground truth otherwise). Points whose optimal
/// action is <= 0 or >= 1e6 are dropped.
struct EvalSet {
  std::size_t n_inputs = 0;
  std::vector<double> theta, m, a_star;
  std::size_t size() const { return m.size(); }
};
/// Draws n points the way training batches are drawn and solves for their optimal actions
/// (in parallel on `threads` OpenMP threads; 0: OpenMP's default). `stream` separates it from
/// the training streams.
EvalSet make_eval_set(const CostInfo& cost, std::size_t n, std::uint64_t seed, std::uint64_t stream,
                      const TrainingPrior& prior = {}, int threads = 0);
/// The same under a motor model: theta has action_theta_size(cost, {motor}) entries (sigma_a
/// last for the generalized and gaussian models), optimal actions from optimal_action(cost,
/// motor, ...).
EvalSet make_eval_set(const CostInfo& cost, MotorModel motor, std::size_t n, std::uint64_t seed, std::uint64_t stream,
                      const TrainingPrior& prior = {}, int threads = 0);
/// A network's accuracy against the optimal action (`bactor evaluate`): RMSE, largest absolute
/// error, mean and largest relative error over the points kept (errors relative to a*; under
/// gaussian perception to |a*| + sigma_post + sigma_a, a* may be near 0). Under gaussian motor
/// noise with log-normal perception also relative to |a*| + sigma_a (the response's scale in the
/// likelihood, where a* << sigma_a), in mean_motor_rel and max_motor_rel (else equal to the above).
struct NetworkAccuracy {
  double rmse = 0, max_abs = 0, mean_rel = 0, max_rel = 0;
  double mean_motor_rel = 0, max_motor_rel = 0;
  std::size_t points = 0, dropped = 0;  // points kept; drawn but dropped (make_eval_set's rules)
};
/// Evaluates `net` (trained for `cost`, its motor and perception models from its metadata) on n
/// fresh points drawn from `prior` with `seed` (stream 0x7777), against the closed form or the
/// numerical ground truth (the exact linear action under gaussian perception).
NetworkAccuracy evaluate_network(const ActionNetwork& net, const CostInfo& cost, std::size_t n, std::uint64_t seed,
                                 const TrainingPrior& prior = {});
/// Draws one theta and m from the training prior (theta has theta_size(cost) entries).
void sample_training_point(const CostInfo& cost, const TrainingPrior& prior, Rng& rng, std::span<double> theta,
                           double& m);
/// The same under a motor model (theta: action_theta_size(cost, {motor}) entries): the gaussian
/// model's sigma_r slot holds unused_sigma_r; sigma_a ~ U(sigma_a_lo, sigma_a_hi) comes last.
/// The log-normal model draws the same numbers as the overload above.
void sample_training_point(const CostInfo& cost, MotorModel motor, const TrainingPrior& prior, Rng& rng,
                           std::span<double> theta, double& m);

/// Input scaling of the head's features (head_features) from the training prior: uniform ranges
/// to [-1, 1], log-normal to log scale; sigma_post's range is [noise_lo, noise_hi] / sqrt(2).
std::vector<InputScaling> training_input_scaling(const CostInfo& cost, const TrainingPrior& prior,
                                                 NetworkHead head = NetworkHead::softplus,
                                                 MotorModel motor = MotorModel::lognormal);

/// Throws std::invalid_argument when `head` cannot represent the optimal action of `cost`
/// (the posterior head needs a cost homogeneous in (s, r)).
void check_head(const CostInfo& cost, NetworkHead head);
/// ... and when it cannot represent the action under a motor model: the posterior head
/// assumes log-normal motor noise (its features leave out sigma_a).
void check_head(const CostInfo& cost, NetworkHead head, MotorModel motor);
/// `bactor train`'s default length (TrainSettings::steps = 0): 60,000 steps, and 120,000 for
/// the networks that missed the 2% max-error target at 60,000 at some seed (docs/accuracy.md,
/// "Every default network"): a cost with a seam in its second derivative (Linex) under
/// generalized or gaussian motor noise, and a cost whose action has a near-kink
/// (AbsoluteCostQuadraticEffort) under gaussian perception. Each stays within 60 s on 2 threads.
std::size_t default_training_steps(const CostInfo& cost, MotorModel motor, PerceptionModel perception);

/// The head "auto" picks under a motor model: default_head_name(cost) for log-normal motor
/// noise; otherwise mupost (its MLP sees sigma_a, or sigma_a / kappa for a cost with a length
/// scale kappa, and mu_post).
const char* default_head_name(const CostInfo& cost, MotorModel motor);

// The network, its head and the expected cost run as float tape nodes (engine/tensor.hpp),
// one graph per chunk of 32 samples; the tape's reverse pass gives the gradient.

/// Per-sample inputs of the expected-cost node for n samples (arrays of n floats; cost
/// parameters parameter-major, [n_params][n]) and its Monte Carlo draws.
struct ExpectedCostInputs {
  const float* mu_post = nullptr;
  const float* sigma_post = nullptr;
  const float* sigma_r = nullptr;
  const float* params = nullptr;
  MotorModel motor = MotorModel::lognormal;
  const float* sigma_a = nullptr;     // generalized and gaussian motor models
  std::size_t mc = 128;               // K draws per sample
  std::uint64_t seed = 0, stream = 0; // the draws' stream ...
  const float* e = nullptr;           // ... unless fixed draws are given: [n][K] each (tests)
  const float* u = nullptr;
  /// A product Gauss–Hermite rule (objective_rule) replacing the draws; nullptr or empty: draws.
  const struct ObjectiveRule* rule = nullptr;
};
/// A product Gauss–Hermite rule for the objective's expectation over (e, u) ~ N(0, I)
/// (docs/training.md): nodes and weights (each rule's summing to 1); e's padded with zero
/// weights to a multiple of 16 entries, e_nodes the real count. Empty: Monte Carlo draws.
struct ObjectiveRule {
  std::vector<float> e_node, e_weight, u_node, u_weight;
  std::size_t e_nodes = 0;
  /// > 0 for a cost with a kink at r = s: the e nodes are then those of w, and u_node,
  /// u_weight a rule on [0, 1] for each of the pieces [-split, z_k] and [z_k, split] of z, in the
  /// rotation of (e, u) where r = s at z = z_k (FusedArgs::u_split).
  float split = 0.0f;
  /// The motor model the rule is for. gaussian with split_lines (a cost with a kink at r = s):
  /// e_node, e_weight (e_nodes entries) and u_node, u_weight are rules on [0, 1] for each piece of
  /// the e-line cut where a crosses s and of the u-line cut at r = s per e node, in the logistic
  /// scale of models/kink_split.hpp (split unused); gaussian without (a smooth or truncated
  /// cost): the product rule with r = a + sigma_a u.
  MotorModel motor = MotorModel::generalized;
  bool split_lines = false;
  /// > 0 for a cost with a seam (CostInfo::seam): seam_node, seam_weight, a rule on [0, 1] for
  /// each piece of the posterior line cut at the seam of a motor node (FusedArgs::seam), padded
  /// with zero weights to a multiple of 16 entries; seam_nodes the real count.
  float seam = 0.0f;
  std::vector<float> seam_node, seam_weight;
  std::size_t seam_nodes = 0;
  bool empty() const { return u_node.empty(); }
};
/// The rule's expected cost in double (what the fused kernel sums in float): log s = mu + sp e,
/// r = a exp(sd u), cost parameters p; for a rule of the gaussian motor model r = a + sd u
/// (sd = sigma_a).
double rule_expected_cost(const CostInfo& cost, const ObjectiveRule& rule, double mu, double sp, double a, double sd,
                          const double* p);
/// Motor nodes of the rule.
inline constexpr std::size_t objective_rule_motor_nodes = 16;
/// The range |z| <= this of the rule of a cost with a kink at r = s (FusedArgs::u_split).
inline constexpr double kink_rule_range = 7.0;
/// The rule the trainer uses under the log-normal and generalized motor models (docs/training.md): for a smooth
/// cost objective_rule_motor_nodes Gauss–Hermite nodes in u, for a truncated one (Linex)
/// Gauss–Legendre panels over [-T, T] and the tail masses, for a cost with a kink at r = s
/// 16 Gauss–Legendre nodes on each side of the kink; times max(4, mc / (u nodes)) Gauss–Hermite
/// nodes in e (at least 8 for a truncated one). Under gaussian motor noise, for a cost with a kink at r = s (untruncated), the
/// split rule of models/kink_split.hpp: 2 x 8 nodes in e by 2 x 8 in u (mc unused); for any
/// other cost (smooth, or truncated: Linex) the same product rule as above with r = a + sigma_a u.
/// A kinked and truncated cost: empty (the draws).
ObjectiveRule objective_rule(const CostInfo& cost, MotorModel motor, std::size_t mc);

/// The training objective's expected-cost term as one tape node: for actions a (1 x n, > 0),
///   y_b = (1/K) sum_k cost(exp(mu_post_b + sigma_post_b e_bk), a_b exp(sigma_r_b u_bk)),
/// e, u ~ N(0, 1) (motor draws clamped at the cost's motor_truncation, and for a cost with a
/// motor_importance_scale drawn from N(0, scale^2) with importance weights), or with in.rule the
/// rule's weighted sum over its nodes instead of the mean over draws. Forward and backward
/// are the cost family's fused SIMD Monte Carlo kernel (models/train_kernel.hpp), which
/// yields dy_b/da_b with y_b;  da_b += dy_b * dy_b/da_b.
Tensor expected_cost(const CostInfo& cost, Tensor a, const ExpectedCostInputs& in);

struct TrainProgress {
  std::size_t step = 0, steps = 0;
  double loss = 0;       // mean batch loss since the last report
  double eval_rmse = 0;
  double seconds = 0, steps_per_s = 0;
};

/// Step-by-step trainer (the CLI, bench and tests drive it).
class Trainer {
public:
  explicit Trainer(const TrainSettings& settings);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// One optimisation step; returns the mean loss of its batch.
  double step();
  std::size_t steps_done() const;
  /// RMSE of the current (float) network against the evaluation set.
  double eval_rmse();
  /// Max absolute and max relative error on the evaluation set.
  void eval_errors(double& rmse, double& max_abs, double& max_rel);
  const EvalSet& eval_set() const;
  /// The network (float weights) with metadata: settings, seed, steps, final eval RMSE.
  ActionNetwork network() const;
  std::span<float> parameters();
  const MlpLayout& layout() const;
  const TrainSettings& settings() const;

  /// Objective of the batch of step `batch_step` at the current parameters, with given
  /// draws e, u (batch x mc each, row-major) instead of the RNG; gradient w.r.t. the
  /// parameters into `grad`. Returns the mean loss. For gradient checks.
  double objective(std::uint64_t batch_step, std::span<const float> e, std::span<const float> u,
                   std::span<float> grad);
  /// Float forward pass: actions for the given thetas (row-major) and measurements.
  void actions(std::span<const double> theta, std::span<const double> m, std::span<double> a);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct TrainResult {
  ActionNetwork network;
  double eval_rmse = 0;
  std::size_t steps = 0;           // steps done (fewer than asked when stopped)
  bool complete = true;
  double seconds = 0, steps_per_s = 0;
  double first_loss = 0, last_loss = 0;
};

/// Runs settings.steps steps, calling `progress` every settings.progress_seconds.
TrainResult train(const TrainSettings& settings, const std::function<void(const TrainProgress&)>& progress = {});

} // namespace bactor
