// SPDX-License-Identifier: MIT
// Costs given as a formula ℓ(s, r; params), e.g. "beta*(s-r)^2 + (1-beta)*r^2" (docs/custom-costs.md).
//
// Grammar (precedence low to high; ^ is right-associative and binds tighter than unary minus):
//   expr    := compare
//   compare := sum [('<' | '<=' | '>' | '>=' | '==' | '!=') sum]
//   sum     := product (('+' | '-') product)*
//   product := unary (('*' | '/') unary)*
//   unary   := ('-' | '+') unary | power
//   power   := primary ['^' unary]
//   primary := NUMBER | s | r | PARAMETER | FUNCTION '(' expr {',' expr} ')' | '(' expr ')'
// FUNCTION: exp log sqrt abs sin cos (one argument), min max (two), if(cond, a, b) (a where
// cond is nonzero, else b). A comparison is 1 where it holds, else 0. Comparisons and if/min/max
// take the derivative of the branch they return (H(0) = 1 style kinks are written with >=).
//
// The formula is parsed once into a short register program, evaluated generically over the
// scalar type: the training kernel runs each instruction over whole tiles of SIMD batches of
// dual numbers (one switch per instruction per tile, no call per element), the ground truth and
// the likelihood in double with forward-mode dℓ/dr.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <bactor/engine/errors.hpp>
#include <bactor/models/costs.hpp>

namespace bactor {

/// A formula that does not parse: an ArgumentError for argument "formula" whose reason() is
/// "column C: expected X, found 'Y'".
class FormulaError : public ArgumentError {
public:
  FormulaError(std::size_t column, const std::string& message);
  /// 1-based column of the error in the formula text.
  std::size_t column() const { return column_; }

private:
  std::size_t column_;
};

/// A formula cost and its declared settings (CostInfo's fields of the same names).
struct FormulaSpec {
  std::string expression;              // ℓ(s, r; params)
  std::vector<ParamPrior> params;      // every parameter the expression names, with its prior
  std::string name;                    // registry name; empty: "formula:" + expression
  bool kink = false;                   // declared kink at s = r (else detected: detect_kink)
  double motor_truncation = 0.0;       // as CostInfo::motor_truncation
  double motor_importance_scale = 0.0; // as CostInfo::motor_importance_scale
  int homogeneity_degree = -1;         // -1: detected (detect_homogeneity); 0: none; p > 0: declared
};

/// Parses and compiles the formula and returns the CostInfo (not registered): its evaluators
/// (double, dual and the fused training kernel) run the compiled program. Throws FormulaError
/// for a bad formula and ArgumentError naming the field ("params", "motor_truncation", ...) for
/// bad settings or priors.
CostInfo make_formula_cost(const FormulaSpec& spec);
/// make_formula_cost, then register_cost (the same formula and settings twice: the first entry).
const CostInfo& register_formula_cost(const FormulaSpec& spec);
/// "NAME=PRIOR,NAME=PRIOR,..." with PRIOR as parse_param_prior reads it (empty text: none).
std::vector<ParamPrior> parse_param_priors(const std::string& text);
/// The inverse of parse_param_priors.
std::string to_string(const std::vector<ParamPrior>& priors);

} // namespace bactor
