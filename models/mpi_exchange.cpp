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

// The leader's header before each request: what it asks and the cohort's shape, which every
// worker checks against its own (all ranks must have built the same cohort).
enum Header : std::size_t { h_command, h_subjects, h_nq, n_header };
constexpr double command_stop = 0, command_evaluate = 1;
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

void Exchange::range(std::size_t blocks, int rank, int size, std::size_t& b0, std::size_t& b1) {
  b0 = blocks * std::size_t(rank) / std::size_t(size);
  b1 = blocks * std::size_t(rank + 1) / std::size_t(size);
}

void Exchange::attach(const detail::FusedCohort& cohort) {
  // Not collective: rank 0 builds a model per chain (and a probe), the workers one each.
  if (!cohort_) cohort_ = &cohort;
}

void Exchange::scatter(const detail::FusedCohort& c, double* q) {
  if (!c.contiguous()) {
    MPI_Bcast(q, int(c.n_q()), MPI_DOUBLE, 0, MPI_COMM_WORLD);
    return;
  }
  // q[0, subject_q(0)): every population block; then each rank's subjects' four coordinates.
  const std::size_t q0 = c.subject_q(0);
  MPI_Bcast(q, int(q0), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  qcounts_.assign(std::size_t(size_), 0);
  qdispls_.assign(std::size_t(size_), 0);
  for (int r = 0; r < size_; ++r) {
    std::size_t b0, b1;
    range(c.blocks(), r, size_, b0, b1);
    qcounts_[std::size_t(r)] = int(4 * (c.block_begin(b1) - c.block_begin(b0)));
    qdispls_[std::size_t(r)] = int(4 * c.block_begin(b0));
  }
  double* mine = q + q0 + qdispls_[std::size_t(rank_)];
  MPI_Scatterv(leader() ? q + q0 : nullptr, qcounts_.data(), qdispls_.data(), MPI_DOUBLE,
               leader() ? MPI_IN_PLACE : static_cast<void*>(mine), qcounts_[std::size_t(rank_)], MPI_DOUBLE, 0,
               MPI_COMM_WORLD);
}

void Exchange::gather(const detail::FusedCohort& c, double* pieces, double* sums) {
  // Per rank: its blocks' sums, then its subjects' four coordinate-gradient fields.
  const std::size_t Jp = c.padded(), per_block = c.groups() * detail::FusedCohort::n_sum;
  const std::size_t fx[4] = {F::g_x_mu, F::g_x_s0, F::g_x_r, F::g_x_s};
  auto shape = [&](int r, std::size_t& b0, std::size_t& b1, std::size_t& j0, std::size_t& j1) {
    range(c.blocks(), r, size_, b0, b1);
    j0 = c.block_begin(b0);
    j1 = c.block_begin(b1);
    return (b1 - b0) * per_block + 4 * (j1 - j0);
  };
  std::size_t b0, b1, j0, j1;
  const std::size_t n = shape(rank_, b0, b1, j0, j1);
  if (!leader()) {
    buf_.resize(n);
    auto out = std::copy(sums + b0 * per_block, sums + b1 * per_block, buf_.begin());
    for (std::size_t f : fx) out = std::copy(pieces + f * Jp + j0, pieces + f * Jp + j1, out);
    MPI_Gatherv(buf_.data(), int(n), MPI_DOUBLE, nullptr, nullptr, nullptr, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    return;
  }
  counts_.assign(std::size_t(size_), 0);
  displs_.assign(std::size_t(size_), 0);
  int total = 0;
  for (int r = 0; r < size_; ++r) {
    std::size_t a0, a1, i0, i1;
    counts_[std::size_t(r)] = r == 0 ? 0 : int(shape(r, a0, a1, i0, i1));  // rank 0's own are in place
    displs_[std::size_t(r)] = total;
    total += counts_[std::size_t(r)];
  }
  recv_.resize(std::size_t(total));
  MPI_Gatherv(buf_.data(), 0, MPI_DOUBLE, recv_.data(), counts_.data(), displs_.data(), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  for (int r = 1; r < size_; ++r) {
    std::size_t a0, a1, i0, i1;
    shape(r, a0, a1, i0, i1);
    const double* src = recv_.data() + displs_[std::size_t(r)];
    std::copy(src, src + (a1 - a0) * per_block, sums + a0 * per_block);
    src += (a1 - a0) * per_block;
    for (std::size_t f : fx) {
      std::copy(src, src + (i1 - i0), pieces + f * Jp + i0);
      src += i1 - i0;
    }
  }
}

void Exchange::evaluate(const detail::FusedCohort& c, const double* q, double* pieces, double* sums) {
  if (size_ == 1) {
    c.blocks(q, 0, c.blocks(), pieces, sums);
    return;
  }
  const std::lock_guard<std::mutex> lock(mutex_);  // chains on rank 0's threads take turns
  double header[n_header] = {command_evaluate, double(c.subjects()), double(c.n_q())};
  MPI_Bcast(header, int(n_header), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  scatter(c, const_cast<double*>(q));  // the leader's q is only read (sent)
  std::size_t b0, b1;
  range(c.blocks(), rank_, size_, b0, b1);
  c.blocks(q, b0, b1, pieces, sums);
  gather(c, pieces, sums);
}

long Exchange::serve() {
  if (!cohort_) throw std::logic_error("mpi::Exchange::serve: no cohort attached");
  const detail::FusedCohort& c = *cohort_;
  std::vector<double> q(c.n_q()), pieces(c.piece_size()), sums(c.sums_size());
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
    scatter(c, q.data());
    std::size_t b0, b1;
    range(c.blocks(), rank_, size_, b0, b1);
    c.blocks(q.data(), b0, b1, pieces.data(), sums.data());
    gather(c, pieces.data(), sums.data());
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
