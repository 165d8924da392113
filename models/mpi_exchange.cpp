// SPDX-License-Identifier: MIT
#include "models/mpi_exchange.hpp"

#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace bactor::mpi {

namespace {
using F = detail::FusedPieces;
constexpr std::size_t n_fields = F::n_fields;

// The leader's header before each request: what it asks and the cohort's shape, which every
// worker checks against its own (all ranks must have built the same cohort).
enum Header : std::size_t { h_command, h_subjects, h_nq, n_header };
constexpr double command_stop = 0, command_pieces = 1;
} // namespace

Session::Session(int& argc, char**& argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  if (provided < MPI_THREAD_SERIALIZED && size_ > 1) {
    if (rank_ == 0) std::fprintf(stderr, "bactor: error: the MPI library does not support MPI_THREAD_SERIALIZED\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

Session::~Session() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

int world_rank() {
  int init = 0, r = 0;
  MPI_Initialized(&init);
  if (init) MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  int init = 0, s = 1;
  MPI_Initialized(&init);
  if (init) MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

Exchange::Exchange() {
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

Exchange::~Exchange() {
  if (leader()) stop();
}

void Exchange::range(std::size_t J, int rank, int size, std::size_t& j0, std::size_t& j1) {
  const std::size_t L = detail::FusedCohort::lanes(), nb = (J + L - 1) / L;
  const std::size_t b0 = nb * std::size_t(rank) / std::size_t(size), b1 = nb * std::size_t(rank + 1) / std::size_t(size);
  j0 = std::min(J, b0 * L);
  j1 = std::min(J, b1 * L);
}

void Exchange::attach(const detail::FusedCohort& cohort) {
  // Not collective: rank 0 builds a model per chain (and a probe), the workers one each.
  if (!cohort_) cohort_ = &cohort;
}

void Exchange::gather(const detail::FusedCohort& c, double* out) {
  // Each rank's fields of its own subjects, packed field by field, to rank 0, which unpacks them
  // into the structure of arrays (its own range is already there).
  const std::size_t J = c.subjects(), Jp = c.padded();
  std::size_t j0, j1;
  range(J, rank_, size_, j0, j1);
  const std::size_t n = j1 - j0;
  buf_.resize(n_fields * n);
  for (std::size_t f = 0; f < n_fields; ++f) std::copy(out + f * Jp + j0, out + f * Jp + j1, buf_.begin() + std::ptrdiff_t(f * n));
  if (!leader()) {
    MPI_Gatherv(buf_.data(), int(buf_.size()), MPI_DOUBLE, nullptr, nullptr, nullptr, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    return;
  }
  counts_.assign(std::size_t(size_), 0);
  displs_.assign(std::size_t(size_), 0);
  int total = 0;
  for (int r = 0; r < size_; ++r) {
    std::size_t a, b;
    range(J, r, size_, a, b);
    counts_[std::size_t(r)] = int(n_fields * (b - a));
    displs_[std::size_t(r)] = total;
    total += counts_[std::size_t(r)];
  }
  recv_.resize(std::size_t(total));
  MPI_Gatherv(buf_.data(), int(buf_.size()), MPI_DOUBLE, recv_.data(), counts_.data(), displs_.data(), MPI_DOUBLE, 0,
              MPI_COMM_WORLD);
  for (int r = 1; r < size_; ++r) {
    std::size_t a, b;
    range(J, r, size_, a, b);
    const double* src = recv_.data() + displs_[std::size_t(r)];
    for (std::size_t f = 0; f < n_fields; ++f) std::copy(src + f * (b - a), src + (f + 1) * (b - a), out + f * Jp + a);
  }
}

void Exchange::pieces(const detail::FusedCohort& c, const double* q, double* out) {
  if (size_ == 1) {
    c.pieces(q, 0, c.subjects(), out);
    return;
  }
  const std::lock_guard<std::mutex> lock(mutex_);  // chains on rank 0's threads take turns
  double header[n_header] = {command_pieces, double(c.subjects()), double(c.n_q())};
  MPI_Bcast(header, int(n_header), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  MPI_Bcast(const_cast<double*>(q), int(c.n_q()), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  std::size_t j0, j1;
  range(c.subjects(), rank_, size_, j0, j1);
  c.pieces(q, j0, j1, out);
  gather(c, out);
}

long Exchange::serve() {
  if (!cohort_) throw std::logic_error("mpi::Exchange::serve: no cohort attached");
  const detail::FusedCohort& c = *cohort_;
  std::vector<double> q(c.n_q()), out(c.piece_size());
  long served = 0;
  for (;;) {
    double header[n_header];
    MPI_Bcast(header, int(n_header), MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (header[h_command] == command_stop) return served;
    if (header[h_subjects] != double(c.subjects()) || header[h_nq] != double(c.n_q())) {
      std::fprintf(stderr, "bactor: error: rank %d built a cohort of %zu subjects (%zu coordinates), rank 0 one of %.0f (%.0f)\n",
                   rank_, c.subjects(), c.n_q(), header[h_subjects], header[h_nq]);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Bcast(q.data(), int(q.size()), MPI_DOUBLE, 0, MPI_COMM_WORLD);
    std::size_t j0, j1;
    range(c.subjects(), rank_, size_, j0, j1);
    c.pieces(q.data(), j0, j1, out.data());
    gather(c, out.data());
    ++served;
  }
}

void Exchange::stop() {
  if (!leader() || stopped_ || size_ == 1) return;
  const std::lock_guard<std::mutex> lock(mutex_);
  stopped_ = true;
  double header[n_header] = {command_stop, 0, 0};
  MPI_Bcast(header, int(n_header), MPI_DOUBLE, 0, MPI_COMM_WORLD);
}

} // namespace bactor::mpi
