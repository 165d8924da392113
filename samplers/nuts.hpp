// SPDX-License-Identifier: MIT
// The No-U-Turn sampler as Stan runs it: multinomial trajectory sampling, generalised U-turn
// criterion with cross-subtree checks, dual-averaging step size and windowed metric adaptation.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <bactor/samplers/model.hpp>

namespace bactor {

class Rng;

struct NutsSettings {
  int chains = 4;
  int warmup = 1000;
  int samples = 1000;
  int thin = 1;
  std::uint64_t seed = 1;        // chain c uses Rng(seed, c) (c = 1-based chain id)
  int threads = 0;               // 0: OpenMP default; results identical for any thread count
  double delta = 0.8;            // target acceptance
  int max_depth = 10;
  bool dense_metric = false;
  double init_radius = 2.0;      // inits uniform(-2, 2) on the unconstrained scale (Stan default)
  std::vector<double> init;      // optional fixed init (unconstrained), overrides init_radius
  bool save_warmup = false;
  const std::atomic<bool>* stop = nullptr;  // when set to true, chains stop at the next iteration
  // Called from chain threads (must be thread-safe), about every 1% of iterations:
  std::function<void(int chain, int iteration, int total)> progress;
};

struct ChainResult {
  int chain_id = 1;                      // 1-based
  std::vector<std::string> columns;      // lp__, accept_stat__, stepsize__, treedepth__,
                                         // n_leapfrog__, divergent__, energy__, then model outputs
  std::vector<double> draws;             // row-major: rows = kept draws, columns as above
  std::size_t rows() const { return columns.empty() ? 0 : draws.size() / columns.size(); }
  double step_size = 0;                  // after adaptation
  std::vector<double> inv_metric;        // diagonal (or dense row-major, dim*dim)
  double warmup_seconds = 0, sampling_seconds = 0;
  std::size_t gradient_evaluations = 0;
  bool complete = false;                 // false when stopped early by `stop`
  int warmup_draws_saved = 0;            // number of leading rows that are warm-up (save_warmup)
  int max_depth = 10;                    // the tree-depth limit used (for saturation counts)
};

/// Runs settings.chains chains of NUTS in parallel (one Model from the factory per chain).
/// Throws std::invalid_argument for bad settings and std::runtime_error when no finite
/// initial point is found in 100 attempts.
std::vector<ChainResult> run_nuts(const ModelFactory& factory, const NutsSettings& settings);

/// Statistics of one NUTS transition.
struct TransitionInfo {
  double lp = 0;            // log density at the new point
  double accept_stat = 0;   // mean over leaves of min(1, exp(H0 - H))
  int tree_depth = 0;
  int n_leapfrog = 0;
  bool divergent = false;
  double energy = 0;        // Hamiltonian at the new point
};

/// One NUTS chain's state with preallocated buffers: the lower-level API behind run_nuts,
/// exposed so that a transition with a given step size and metric can be tested directly.
/// The model's angles (Model::angle_coordinates) are wrapped into (-pi, pi] by set_position and
/// after each transition; run_nuts also measures their warm-up variance on the circle.
class NutsChain {
public:
  /// `model` must outlive the chain. `dense`: inverse metric is dim*dim (row-major).
  NutsChain(Model& model, Rng& rng, int max_depth = 10, bool dense = false);
  ~NutsChain();
  NutsChain(const NutsChain&) = delete;
  NutsChain& operator=(const NutsChain&) = delete;

  std::size_t dim() const;
  /// Sets the position; returns log density (may be non-finite: caller decides).
  double set_position(std::span<const double> q);
  std::span<const double> position() const;
  double log_density() const;
  std::span<const double> gradient() const;

  void set_step_size(double eps);
  double step_size() const;
  /// Inverse metric: dim entries (diagonal) or dim*dim (dense, row-major, symmetric p.d.).
  void set_inv_metric(std::span<const double> inv_metric);
  std::span<const double> inv_metric() const;

  /// One NUTS transition from the current position with the current step size and metric.
  TransitionInfo transition();
  /// Stan's step-size heuristic: double or halve until one-step acceptance crosses 0.8.
  void init_step_size();

  std::size_t gradient_evaluations() const;

private:
  struct Impl;
  Impl* impl_;
};

} // namespace bactor
