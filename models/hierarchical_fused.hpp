// SPDX-License-Identifier: MIT
// The fused hierarchical log-density (docs/hierarchical.md, "The gradient"): one tape node from
// the sampled coordinates q to the summed log density of a cohort, for the case that dominates
// large cohorts — the closed-form QuadraticCost actor with the exact marginal from each
// subject's sufficient statistics, sigma, sigma_0, mu_0 and sigma_r pooled, in the aligned
// coordinates (log mu_0 through the intercept, or non-centred where the trials do not tell the
// subjects' mu_0 apart) or centred-mu0 (log mu_0 centred), nothing fixed or
// shared. Everything else keeps the generic path
// (population_node + the composed likelihood of models/likelihood.hpp), which the tests compare
// this one with (values and gradients to ~1e-12 relative).
//
// Layout of the work:
//   1. per population group (today one), the population means, sds and the ridge constants
//      (c, S, 1/T^2) from q: a few scalars;
//   2. per subject, vectorised over subjects (xsimd, one subject per lane): its coordinates ->
//      log sigma, log sigma_0, log mu_0, log sigma_r -> the closed-form head -> the exact
//      marginal of its trials, and by hand the reverse sweep of that chain. The results are
//      the subject's *piece*: its log-density term, the gradient w.r.t. its own four
//      coordinates and the adjoints of its group's nine population quantities, written to
//      per-subject buffers (FusedPieces);
//   3. the pieces combined in subject order: per block of `block` consecutive subjects (a fixed
//      number, whatever the machine) their sums, subject by subject; then the blocks' sums,
//      block by block; then the population level's own terms and its chain rule, per group.
// Each subject's piece is computed with the same instructions whatever range of subjects a
// call covers, and the order of every sum is fixed by the subject indices alone, so the value
// and gradient are bitwise identical for any split of the blocks over threads
// (FusedCohort::blocks) or processes (SubjectExchange, e.g. MPI ranks in the bactor CLI): a
// process sends rank 0 its blocks' sums and its subjects' coordinate gradients, not every
// piece. Private header; the node is checked against finite differences and against the
// generic path in tests/models/test_hierarchical_fused.cpp.
#pragma once

#include <bactor/engine/tape.hpp>
#include <bactor/models/marginal.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace bactor::detail {

struct PopulationPlan;
struct LikelihoodPlan;
class FusedCohort;

/// Who computes the subjects' pieces and the blocks' sums for a FusedCohort: by default the
/// calling process (FusedCohort::blocks with its threads); an exchange distributes the blocks
/// over processes. It must fill them exactly as FusedCohort::blocks would.
class SubjectExchange {
public:
  virtual ~SubjectExchange() = default;
  /// Called once by each cohort built with this exchange (e.g. to remember it); may throw
  /// std::invalid_argument.
  virtual void attach(const FusedCohort& cohort) = 0;
  /// At q (cohort.n_q() values): every block's sums into `sums` (cohort.sums_size()) and every
  /// subject's coordinate gradient (the g_x_* fields) into `pieces` (cohort.piece_size()).
  virtual void evaluate(const FusedCohort& cohort, const double* q, double* pieces, double* sums) = 0;
};

/// The per-subject pieces: n_fields arrays of padded() doubles each (structure of arrays),
/// field f of subject j at out[f * padded() + j].
struct FusedPieces {
  enum Field : std::size_t {
    value,                        // the subject's log-density term (likelihood and its coordinates' density)
    g_m_mu, g_tau_mu, g_m_r, g_tau_r, g_m_s, g_dm, g_c, g_S, g_iT2,  // adjoints of its group's quantities
    g_x_mu, g_x_s0, g_x_r, g_x_s,  // gradient w.r.t. its own coordinates (kappa, d, z_r, z_sigma)
    n_fields
  };
};

/// Where a blocked cohort's rows (e.g. subjects x conditions) find their coordinates: per row
/// its population group and the index in q of its first coordinate, per group the index in q of
/// its population block q_m[0..P), q_tau[0..P). Empty fields: the plan's own layout (one group
/// at 0, row j's coordinates at plan.subject_q(j, 0), n_q = plan.n_q()).
struct FusedLayout {
  std::vector<std::uint32_t> group;
  std::vector<std::size_t> group_q, subject_q;
  std::size_t n_q = 0;
};

/// One cohort's constants for the fused node: per subject its sufficient statistics, its
/// constant intercept slope, where its coordinates are in q and its population group; per group
/// where its population coordinates are in q.
class FusedCohort {
public:
  /// The fused path for a plan and likelihood, or null when it does not cover them (then the
  /// caller keeps the generic path). The plan gives the population model (its J rows, one per
  /// subject today), `layout` where rows and groups sit in q (default: the plan's). `threads`
  /// is the number of threads pieces() may use (0: all; results are the same for any number).
  static std::unique_ptr<FusedCohort> make(const PopulationPlan& plan, const LikelihoodPlan& lik,
                                           std::span<const PowerStats> stats, int threads = 1,
                                           std::shared_ptr<SubjectExchange> exchange = nullptr,
                                           const FusedLayout& layout = {});
  ~FusedCohort();
  FusedCohort(const FusedCohort&) = delete;
  FusedCohort& operator=(const FusedCohort&) = delete;

  std::size_t subjects() const;
  std::size_t groups() const;
  /// Subjects rounded up to the SIMD width (the stride of the pieces' fields).
  std::size_t padded() const;
  std::size_t piece_size() const { return std::size_t(FusedPieces::n_fields) * padded(); }
  /// Subjects per block of the sums (a multiple of every SIMD width); the last block may be short.
  static constexpr std::size_t block = 64;
  std::size_t blocks() const { return (subjects() + block - 1) / block; }
  /// Values per block: for each group the sums of the fields value .. g_iT2 of its subjects.
  static constexpr std::size_t n_sum = FusedPieces::g_x_mu;
  std::size_t sums_size() const { return blocks() * groups() * n_sum; }
  std::size_t n_q() const;
  /// The index in q of subject j's first coordinate (its four follow).
  std::size_t subject_q(std::size_t j) const;
  /// True when the subjects' coordinates are consecutive blocks of four from subject_q(0) on,
  /// after every population block: a process then needs only q[0, subject_q(0)) and its own
  /// subjects' slice.
  bool contiguous() const;
  /// The first subject of block b (subjects() for b = blocks()).
  std::size_t block_begin(std::size_t b) const { return std::min(subjects(), b * block); }

  /// The pieces of the subjects of blocks [b0, b1) at q into `pieces` (piece_size() doubles;
  /// other subjects' entries untouched) and those blocks' sums into `sums` (sums_size()).
  /// Uses up to the cohort's threads for large ranges.
  void blocks(const double* q, std::size_t b0, std::size_t b1, double* pieces, double* sums) const;
  /// The log density at q from the blocks' sums and the subjects' coordinate gradients; with
  /// `grad` (n_q() values, overwritten) its gradient. Non-finite values give a zero gradient.
  double combine(const double* q, const double* pieces, const double* sums, double* grad) const;

  /// The model's log density and gradient (grad empty: value only) through fused_node.
  double log_density(std::span<const double> q, std::span<double> grad);
  /// The blocks at q by the exchange if there is one, else by this process, into the
  /// cohort's own buffers (pieces(), sums()).
  void evaluate(const double* q);
  const double* pieces() const { return pieces_.data(); }
  const double* sums() const { return sums_.data(); }

  struct Data;  // the constants (hierarchical_fused.cpp)

private:
  explicit FusedCohort(std::unique_ptr<Data> d);
  std::unique_ptr<Data> d_;
  std::vector<double> pieces_, sums_;
};

/// The cohort's log density at q as one tape node (scalar). Forward: evaluate then combine,
/// keeping the gradient on the arena; backward: dq += dy * gradient. `cohort` must outlive it.
Var fused_node(Var q, FusedCohort& cohort);

} // namespace bactor::detail
