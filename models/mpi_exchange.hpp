// SPDX-License-Identifier: MIT
// A hierarchical cohort's subjects over MPI ranks (docs/cluster.md, "One posterior over many
// processes"): rank 0 runs NUTS; at each gradient it sends every rank the population
// coordinates and that rank's subjects' coordinates, every rank computes its own range of
// blocks of subjects (FusedCohort::blocks) and sends rank 0 the blocks' sums and its subjects'
// coordinate gradients; rank 0 combines the sums block by block, so that the draws are bitwise
// those of one process.
// Built only with `-Dmpi=enabled` (library bactor_mpi; libbactor itself has no MPI
// dependency). Private header: the CLI (`mpirun -np P bactor infer --hierarchical ...`) and
// bench/hierarchical use it.
#pragma once

#include "models/hierarchical_fused.hpp"

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace bactor::mpi {

/// MPI for the life of the object (MPI_Init_thread with MPI_THREAD_SERIALIZED: chains on rank
/// 0's threads take turns through the exchange). Construct first in main, destroy last.
class Session {
public:
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }

private:
  int rank_ = 0, size_ = 1;
};

/// Rank and size of MPI_COMM_WORLD (0 and 1 when MPI is not initialised).
int world_rank();
int world_size();

/// The subject exchange over MPI_COMM_WORLD. On rank 0 (the leader) pieces() drives every
/// rank; on the others serve() answers until the leader calls stop() (or is destroyed).
class Exchange final : public detail::SubjectExchange {
public:
  Exchange();
  ~Exchange() override;
  bool leader() const { return rank_ == 0; }
  /// Blocks [b0, b1) of rank r out of `blocks`, split evenly.
  static void range(std::size_t blocks, int rank, int size, std::size_t& b0, std::size_t& b1);

  void attach(const detail::FusedCohort& cohort) override;
  void evaluate(const detail::FusedCohort& cohort, const double* q, double* pieces, double* sums) override;
  /// Workers: answer the leader's requests with the attached cohort until it stops.
  /// Returns the number of gradients served.
  long serve();
  /// Leader: release the workers (idempotent).
  void stop();

private:
  /// The leader's q to every rank (the population part and each rank's subjects' slice, or
  /// all of q when the cohort's layout is not contiguous) into q (a worker's buffer).
  void scatter(const detail::FusedCohort& cohort, double* q);
  /// Every rank's blocks' sums and subjects' coordinate gradients to the leader's buffers.
  void gather(const detail::FusedCohort& cohort, double* pieces, double* sums);
  int rank_ = 0, size_ = 1;
  const detail::FusedCohort* cohort_ = nullptr;  // the first attached (workers serve it)
  bool stopped_ = false;
  std::mutex mutex_;
  std::vector<double> buf_, recv_;
  std::vector<int> counts_, displs_, qcounts_, qdispls_;
};

} // namespace bactor::mpi
