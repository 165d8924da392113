// SPDX-License-Identifier: MIT
// A parsed formula as a register program, and its generic evaluator (private; see
// <bactor/models/formula.hpp> for the grammar).
//
// Registers: 0 = s, 1 = r, then the parameters, then the constants (these are "uniform": one
// value per program run), then temporaries. A tile run evaluates the program for nb values of
// (s, r) at once: uniform registers hold one value, the others nb, and each instruction is one
// switch followed by a loop over the tile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <bactor/models/cost_math.hpp>
#include <bactor/models/costs.hpp>

namespace bactor::detail {

enum class FOp : std::uint8_t {
  add, sub, mul, div, neg, pow_int, pow, exp, log, sqrt, abs, sin, cos, min, max,
  lt, le, gt, ge, eq, ne, select
};

struct FInstr {
  FOp op;
  std::uint16_t dst, a, b, c;  // registers (b, c unused by unary ops)
  int imm;                     // the exponent of pow_int
};

struct FormulaProgram {
  std::vector<FInstr> code;
  std::vector<double> constants;  // registers 2 + n_params + i
  std::size_t n_params = 0;
  std::size_t n_regs = 0;         // all registers
  std::size_t result = 0;         // the register holding ℓ
  bool uniform(std::size_t k) const { return k >= 2 && k < 2 + n_params + constants.size(); }
  std::size_t n_uniform() const { return n_params + constants.size(); }
  /// Offset of register k in a buffer for tiles of `cap` values: uniform ones first.
  std::size_t offset(std::size_t k, std::size_t cap) const {
    if (uniform(k)) return k - 2;
    const std::size_t v = k < 2 ? k : k - n_uniform();
    return n_uniform() + v * cap;
  }
  std::size_t buffer_size(std::size_t cap) const { return n_uniform() + (n_regs - n_uniform()) * cap; }
};

/// For a cost made by make_formula_cost: d/dp_k of l'(x_i) = dl/dr at s = 0, r = x_i, into
/// out[i] for i < n (forward mode on nested dual numbers: exact, one run of the program over SIMD
/// tiles). False, with nothing written, for any other cost (or k out of range).
bool formula_slope_dparam(const CostInfo& cost, std::size_t k, std::size_t n, const double* x, const double* p,
                          double* out);
/// For a cost made by make_formula_cost: l(0, x_i) into l[i] and its derivative in p_k into
/// dl_dp[i] (dual numbers, one run). False, with nothing written, for any other cost.
bool formula_loss_dparam(const CostInfo& cost, std::size_t k, std::size_t n, const double* x, const double* p, double* l,
                         double* dl_dp);

/// Parses and compiles; throws FormulaError (column, what was expected).
FormulaProgram compile_formula(const std::string& text, const std::vector<std::string>& param_names);

/// x^n by repeated squaring (n may be negative).
template <class T> T pow_int(const T& x, int n) {
  if (n == 0) return T(1.0f);
  unsigned k = n < 0 ? unsigned(-n) : unsigned(n);
  T base = x, acc = x;
  bool first = true;
  while (k) {
    if (k & 1u) {
      acc = first ? base : acc * base;
      first = false;
    }
    k >>= 1;
    if (k) base = base * base;
  }
  return n < 0 ? T(1.0f) / acc : acc;
}

/// Sets the uniform registers (parameters p[0..n_params), constants) of a buffer.
template <class T, class P> void formula_set_uniform(const FormulaProgram& P_, T* buf, const P* p) {
  for (std::size_t j = 0; j < P_.n_params; ++j) buf[j] = T(p[j]);
  for (std::size_t j = 0; j < P_.constants.size(); ++j) buf[P_.n_params + j] = T(P_.constants[j]);
}

/// Runs the program on a tile of nb values whose s and r are already in the buffer (capacity
/// cap) and returns the result's offset and stride (0 when uniform).
template <class T> void formula_run(const FormulaProgram& P, std::size_t nb, std::size_t cap, T* buf,
                                    std::size_t* res_off, std::size_t* res_stride) {
  using namespace gen;
  const T one(1.0f), zero(0.0f);
  for (const FInstr& in : P.code) {
    T* d = buf + P.offset(in.dst, cap);
    const T* A = buf + P.offset(in.a, cap);
    const T* B = buf + P.offset(in.b, cap);
    const T* C = buf + P.offset(in.c, cap);
    const std::size_t sa = P.uniform(in.a) ? 0 : 1, sb = P.uniform(in.b) ? 0 : 1, sc = P.uniform(in.c) ? 0 : 1;
#define BACTOR_F1(expr) for (std::size_t q = 0; q < nb; ++q) { const T& x = A[q * sa]; d[q] = (expr); } break;
#define BACTOR_F2(expr) for (std::size_t q = 0; q < nb; ++q) { const T& x = A[q * sa]; const T& y = B[q * sb]; d[q] = (expr); } break;
    switch (in.op) {
      case FOp::add: BACTOR_F2(x + y)
      case FOp::sub: BACTOR_F2(x - y)
      case FOp::mul: BACTOR_F2(x * y)
      case FOp::div: BACTOR_F2(x / y)
      case FOp::neg: BACTOR_F1(-x)
      case FOp::pow_int: BACTOR_F1(pow_int(x, in.imm))
      case FOp::pow: BACTOR_F2(exp(y * log(x)))
      case FOp::exp: BACTOR_F1(exp(x))
      case FOp::log: BACTOR_F1(log(x))
      case FOp::sqrt: BACTOR_F1(sqrt(x))
      case FOp::abs: BACTOR_F1(abs(x))
      case FOp::sin: BACTOR_F1(sin(x))
      case FOp::cos: BACTOR_F1(cos(x))
      case FOp::min: BACTOR_F2(min(x, y))
      case FOp::max: BACTOR_F2(max(x, y))
      case FOp::lt: BACTOR_F2(select(x < y, one, zero))
      case FOp::le: BACTOR_F2(select(x <= y, one, zero))
      case FOp::gt: BACTOR_F2(select(x > y, one, zero))
      case FOp::ge: BACTOR_F2(select(x >= y, one, zero))
      case FOp::eq: BACTOR_F2(select(x == y, one, zero))
      case FOp::ne: BACTOR_F2(select(x != y, one, zero))
      case FOp::select:
        for (std::size_t q = 0; q < nb; ++q) d[q] = select(A[q * sa] != zero, B[q * sb], C[q * sc]);
        break;
    }
#undef BACTOR_F1
#undef BACTOR_F2
  }
  *res_off = P.offset(P.result, cap);
  *res_stride = P.uniform(P.result) ? 0 : 1;
}

} // namespace bactor::detail
