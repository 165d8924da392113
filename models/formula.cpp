// SPDX-License-Identifier: MIT
// Formula costs: the parser (recursive descent into a small tree), constant folding, the
// register program, and the evaluators bound to it (double, dual, the fused training kernel).
#include <bactor/models/formula.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <sstream>

#include <bactor/engine/errors.hpp>
#include "models/dual.hpp"
#include "models/formula_program.hpp"
#include "models/train_kernel.hpp"

namespace bactor {

// Nested dual numbers (Dual<Dual<V>>, the parameter derivatives of l' below): the generic
// operations call exp, log, ... unqualified on the inner Dual after `using std::exp`, so they are
// found by argument-dependent lookup in Dual's own namespace, this file's only.
using gen::abs;
using gen::cos;
using gen::exp;
using gen::log;
using gen::sin;
using gen::sqrt;

FormulaError::FormulaError(std::size_t column, const std::string& message)
    : ArgumentError("formula", "column " + std::to_string(column) + ": " + message), column_(column) {}

namespace detail {
namespace {

// ---- parsing ---------------------------------------------------------------------------------

struct Node {
  enum Kind { number, s, r, param, op } kind;
  explicit Node(Kind k) : kind(k) {}
  FOp fop = FOp::add;
  double value = 0;            // number
  std::size_t index = 0;       // param
  std::vector<int> args;       // children (indices into the node pool)
  int depth = 1;               // 1 + the deepest child's
};

/// How deep a formula's tree may be (its nesting: parentheses, functions, signs, powers, and
/// chains such as a + b + c, which are left-deep): the parser, the folding and the code
/// generation recurse over it, and a text of 20,000 '(' overflowed the stack.
constexpr int max_formula_depth = 500;

struct Parser {
  const std::string& text;
  const std::vector<std::string>& names;
  std::vector<Node> pool;
  std::vector<bool> used;
  std::size_t pos = 0;
  Parser(const std::string& t, const std::vector<std::string>& n) : text(t), names(n) {}

  [[noreturn]] void fail(const std::string& expected, std::size_t at) const {
    std::string found = at >= text.size() ? "the end of the formula" : "'" + token_text(at) + "'";
    throw FormulaError(at + 1, "expected " + expected + ", found " + found);
  }
  std::string token_text(std::size_t at) const {
    if (std::isalpha(static_cast<unsigned char>(text[at])) || text[at] == '_') {
      std::size_t e = at;
      while (e < text.size() && (std::isalnum(static_cast<unsigned char>(text[e])) || text[e] == '_')) ++e;
      return text.substr(at, e - at);
    }
    return text.substr(at, 1);
  }
  void skip() {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  }
  bool accept(const char* tok) {
    skip();
    const std::size_t n = std::char_traits<char>::length(tok);
    if (text.compare(pos, n, tok) != 0) return false;
    pos += n;
    return true;
  }
  void expect(const char* tok, const std::string& what) {
    skip();
    if (!accept(tok)) fail(what, pos);
  }
  int add(Node n) {
    pool.push_back(std::move(n));
    return int(pool.size() - 1);
  }
  int make(FOp f, std::vector<int> args) {
    Node n(Node::op);
    n.fop = f;
    for (int a : args) n.depth = std::max(n.depth, pool[std::size_t(a)].depth + 1);
    if (n.depth > max_formula_depth) too_deep();
    n.args = std::move(args);
    return add(std::move(n));
  }
  [[noreturn]] void too_deep() const {
    throw FormulaError(pos + 1, "a formula nested at most " + std::to_string(max_formula_depth) +
                                    " levels deep (parentheses, functions, signs, powers and chained operations)");
  }
  /// Counts the parser's own recursion, once per level (every '(', function argument, sign and
  /// '^' passes through unary), before any node of that level is made.
  struct Nest {
    Parser& p;
    explicit Nest(Parser& q) : p(q) {
      if (++p.nesting > max_formula_depth) p.too_deep();
    }
    ~Nest() { --p.nesting; }
  };
  int nesting = 0;

  int parse_all() {
    used.assign(names.size(), false);
    skip();
    if (pos >= text.size()) fail("an expression", pos);
    const int root = compare();
    skip();
    if (pos < text.size()) fail("an operator (+ - * / ^ < <= > >= == !=) or the end", pos);
    return root;
  }
  int compare() {
    const int a = sum();
    skip();
    static const std::pair<const char*, FOp> ops[] = {{"<=", FOp::le}, {">=", FOp::ge}, {"==", FOp::eq},
                                                      {"!=", FOp::ne}, {"<", FOp::lt},  {">", FOp::gt}};
    for (const auto& [tok, f] : ops)
      if (accept(tok)) return make(f, {a, sum()});
    return a;
  }
  int sum() {
    int a = product();
    for (;;) {
      if (accept("+")) a = make(FOp::add, {a, product()});
      else if (accept("-")) a = make(FOp::sub, {a, product()});
      else return a;
    }
  }
  int product() {
    int a = unary();
    for (;;) {
      if (accept("*")) a = make(FOp::mul, {a, unary()});
      else if (accept("/")) a = make(FOp::div, {a, unary()});
      else return a;
    }
  }
  int unary() {
    const Nest guard(*this);
    if (accept("-")) return make(FOp::neg, {unary()});
    if (accept("+")) return unary();
    return power();
  }
  int power() {
    const int a = primary();
    if (accept("^")) return make(FOp::pow, {a, unary()});
    return a;
  }
  int primary() {
    skip();
    if (pos >= text.size()) fail("a number, s, r, a parameter, a function or '('", pos);
    const char c = text[pos];
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      const char* begin = text.c_str() + pos;
      char* end = nullptr;
      const double v = std::strtod(begin, &end);
      if (end == begin || !std::isfinite(v)) fail("a number", pos);
      pos += std::size_t(end - begin);
      Node n(Node::number);
      n.value = v;
      return add(n);
    }
    if (accept("(")) {
      const int a = compare();
      expect(")", "')'");
      return a;
    }
    if (!(std::isalpha(static_cast<unsigned char>(c)) || c == '_'))
      fail("a number, s, r, a parameter, a function or '('", pos);
    const std::size_t at = pos;
    const std::string name = token_text(at);
    pos += name.size();
    static const std::pair<const char*, FOp> f1[] = {{"exp", FOp::exp}, {"log", FOp::log}, {"sqrt", FOp::sqrt},
                                                     {"abs", FOp::abs}, {"sin", FOp::sin}, {"cos", FOp::cos}};
    static const std::pair<const char*, FOp> f2[] = {{"min", FOp::min}, {"max", FOp::max}};
    for (const auto& [fn, f] : f1)
      if (name == fn) return call(f, 1, fn);
    for (const auto& [fn, f] : f2)
      if (name == fn) return call(f, 2, fn);
    if (name == "if") return call(FOp::select, 3, "if");
    if (name == "s") return add(Node(Node::s));
    if (name == "r") return add(Node(Node::r));
    for (std::size_t j = 0; j < names.size(); ++j)
      if (names[j] == name) {
        used[j] = true;
        Node n(Node::param);
        n.index = j;
        return add(n);
      }
    std::string known = "s, r";
    for (const auto& n : names) known += ", " + n;
    throw FormulaError(at + 1, "expected a number, a function or one of " + known + " (declare parameters with "
                                   "--params NAME=PRIOR), found unknown name '" + name + "'");
  }
  int call(FOp f, int arity, const char* fn) {
    expect("(", std::string("'(' after ") + fn);
    std::vector<int> args{compare()};
    for (int k = 1; k < arity; ++k) {
      expect(",", std::string("',' (") + fn + " takes " + std::to_string(arity) + " arguments)");
      args.push_back(compare());
    }
    expect(")", std::string("')' (") + fn + " takes " + std::to_string(arity) + " argument" + (arity > 1 ? "s" : "") + ")");
    return make(f, std::move(args));
  }
};

// ---- folding and code generation -------------------------------------------------------------

double fold(FOp f, const std::vector<double>& v) {
  switch (f) {
    case FOp::add: return v[0] + v[1];
    case FOp::sub: return v[0] - v[1];
    case FOp::mul: return v[0] * v[1];
    case FOp::div: return v[0] / v[1];
    case FOp::neg: return -v[0];
    case FOp::pow_int: return std::pow(v[0], v[1]);
    case FOp::pow: return std::pow(v[0], v[1]);
    case FOp::exp: return std::exp(v[0]);
    case FOp::log: return std::log(v[0]);
    case FOp::sqrt: return std::sqrt(v[0]);
    case FOp::abs: return std::abs(v[0]);
    case FOp::sin: return std::sin(v[0]);
    case FOp::cos: return std::cos(v[0]);
    case FOp::min: return v[1] < v[0] ? v[1] : v[0];
    case FOp::max: return v[1] > v[0] ? v[1] : v[0];
    case FOp::lt: return v[0] < v[1];
    case FOp::le: return v[0] <= v[1];
    case FOp::gt: return v[0] > v[1];
    case FOp::ge: return v[0] >= v[1];
    case FOp::eq: return v[0] == v[1];
    case FOp::ne: return v[0] != v[1];
    case FOp::select: return v[0] != 0 ? v[1] : v[2];
  }
  return 0;
}

struct Compiler {
  std::vector<Node>& pool;
  FormulaProgram& P;
  std::size_t first_temp = 0, max_temp = 0;

  /// Folds constant subtrees in place; x^c with an integer c in [-64, 64] becomes pow_int,
  /// x^0.5 sqrt.
  void simplify(int i) {
    Node& n = pool[std::size_t(i)];
    if (n.kind != Node::op) return;
    for (int a : n.args) simplify(a);
    std::vector<double> v;
    for (int a : n.args) {
      if (pool[std::size_t(a)].kind != Node::number) break;
      v.push_back(pool[std::size_t(a)].value);
    }
    Node& m = pool[std::size_t(i)];
    if (v.size() == m.args.size()) {
      m.value = fold(m.fop, v);
      m.kind = Node::number;
      m.args.clear();
      return;
    }
    if (m.fop == FOp::pow && pool[std::size_t(m.args[1])].kind == Node::number) {
      const double e = pool[std::size_t(m.args[1])].value;
      if (e == std::round(e) && std::abs(e) <= 64) {
        m.fop = FOp::pow_int;
        m.args.pop_back();
        m.value = e;
      } else if (e == 0.5) {
        m.fop = FOp::sqrt;
        m.args.pop_back();
      }
    }
  }
  std::uint16_t constant(double v) {
    for (std::size_t j = 0; j < P.constants.size(); ++j)
      if (P.constants[j] == v || (std::isnan(v) && std::isnan(P.constants[j]))) return std::uint16_t(2 + P.n_params + j);
    P.constants.push_back(v);
    return std::uint16_t(2 + P.n_params + P.constants.size() - 1);
  }
  void collect_constants(int i) {
    const Node& n = pool[std::size_t(i)];
    if (n.kind == Node::number) constant(n.value);
    for (int a : n.args) collect_constants(a);
  }
  /// Register holding node i; temporaries are a stack: `top` is the first free one.
  std::uint16_t emit(int i, std::size_t top) {
    const Node& n = pool[std::size_t(i)];
    switch (n.kind) {
      case Node::s: return 0;
      case Node::r: return 1;
      case Node::param: return std::uint16_t(2 + n.index);
      case Node::number: return constant(n.value);
      case Node::op: break;
    }
    std::uint16_t reg[3] = {0, 0, 0};
    std::size_t t = top;
    for (std::size_t k = 0; k < n.args.size(); ++k) {
      reg[k] = emit(n.args[k], t);
      if (reg[k] >= first_temp) t = std::size_t(reg[k]) + 1;  // keep it while the next argument runs
    }
    const std::uint16_t dst = std::uint16_t(top);
    max_temp = std::max(max_temp, top + 1);
    if (max_temp > 60000) throw FormulaError(1, "a formula of at most 60,000 operations");
    P.code.push_back(FInstr{n.fop, dst, reg[0], reg[1], reg[2], int(n.value)});
    return dst;
  }
};

} // namespace

FormulaProgram compile_formula(const std::string& text, const std::vector<std::string>& param_names) {
  Parser ps(text, param_names);
  const int root = ps.parse_all();
  FormulaProgram P;
  P.n_params = param_names.size();
  Compiler cc{ps.pool, P};
  cc.simplify(root);
  cc.collect_constants(root);
  cc.first_temp = 2 + P.n_params + P.constants.size();
  cc.max_temp = cc.first_temp;
  P.result = cc.emit(root, cc.first_temp);
  P.n_regs = cc.max_temp;
  for (std::size_t j = 0; j < param_names.size(); ++j)
    if (!ps.used[j])
      throw ArgumentError("params", "parameter '" + param_names[j] + "' does not occur in the formula");
  return P;
}

namespace {

// ---- evaluators bound to a program -----------------------------------------------------------

/// The registry keeps this alive (CostInfo::owner); the evaluators get it as their context.
struct FormulaCost {
  FormulaProgram program;
};

/// Scalar run on a buffer of `cap` values (on the stack for the usual short programs).
template <std::size_t cap, class T> T run_scalar_in(const FormulaProgram& P, const T& s, const T& r, const T* p) {
  T buf[cap];
  formula_set_uniform(P, buf, p);
  buf[P.offset(0, 1)] = s;
  buf[P.offset(1, 1)] = r;
  std::size_t off = 0, stride = 0;
  formula_run(P, 1, 1, buf, &off, &stride);
  return buf[off];
}

template <class T> T run_scalar(const FormulaProgram& P, const T& s, const T& r, const T* p) {
  const std::size_t n = P.buffer_size(1);
  if (n <= 16) return run_scalar_in<16>(P, s, r, p);
  if (n <= 64) return run_scalar_in<64>(P, s, r, p);
  std::vector<T> buf(n);
  formula_set_uniform(P, buf.data(), p);
  buf[P.offset(0, 1)] = s;
  buf[P.offset(1, 1)] = r;
  std::size_t off = 0, stride = 0;
  formula_run(P, 1, 1, buf.data(), &off, &stride);
  return buf[off];
}

double loss_double(const void* ctx, double s, double r, const double* p) {
  return run_scalar<double>(static_cast<const FormulaCost*>(ctx)->program, s, r, p);
}

double loss_dr_double(const void* ctx, double s, double r, const double* p, double* dl_dr) {
  using D = Dual<double>;
  const FormulaProgram& P = static_cast<const FormulaCost*>(ctx)->program;
  D pd[max_cost_params];
  for (std::size_t j = 0; j < P.n_params; ++j) pd[j] = D(p[j], 0.0);
  const D l = run_scalar<D>(P, D(s, 0.0), D(r, 1.0), pd);
  *dl_dr = l.d;
  return l.v;
}

using dbatch = xsimd::batch<double>;

/// The program over n points (s_i, r_i) on SIMD tiles of the (dual) type T: `seed(s, r)` makes
/// the registers s and r of one batch (s null: 0), `params` the parameter registers, and `out(i, m, v)`
/// takes the result batch v of the points i.. i + m (m <= lanes; a short last batch repeats its
/// last point). One switch per instruction per tile of 16 batches, this thread's buffer.
template <class T, class Seed, class Out>
void run_tiles(const FormulaProgram& P, std::size_t n, const double* s, const double* r, const T* params, Seed seed,
               Out out) {
  constexpr std::size_t L = dbatch::size, cap = 16;
  thread_local std::vector<T> buf;
  buf.resize(P.buffer_size(cap));
  formula_set_uniform(P, buf.data(), params);
  T* bs = buf.data() + P.offset(0, cap);
  T* br = buf.data() + P.offset(1, cap);
  for (std::size_t i0 = 0; i0 < n; i0 += cap * L) {
    const std::size_t nb = std::min(cap, (n - i0 + L - 1) / L);
    for (std::size_t q = 0; q < nb; ++q) {
      const std::size_t i = i0 + q * L;
      if (i + L <= n) {
        seed(s ? dbatch::load_unaligned(s + i) : dbatch(0.0), dbatch::load_unaligned(r + i), bs[q], br[q]);
        continue;
      }
      alignas(64) double sv[L], rv[L];  // the short last batch
      for (std::size_t l = 0; l < L; ++l) {
        const std::size_t k = std::min(i + l, n - 1);
        sv[l] = s ? s[k] : 0.0, rv[l] = r[k];
      }
      seed(dbatch::load_aligned(sv), dbatch::load_aligned(rv), bs[q], br[q]);
    }
    std::size_t off = 0, stride = 0;
    formula_run(P, nb, cap, buf.data(), &off, &stride);
    for (std::size_t q = 0; q < nb; ++q) {
      const std::size_t i = i0 + q * L;
      out(i, std::min(L, n - i), buf[off + q * stride]);
    }
  }
}

/// Stores the first m lanes of v at y.
void store_first(const dbatch& v, std::size_t m, double* y) {
  if (m == dbatch::size) return v.store_unaligned(y);
  alignas(64) double t[dbatch::size];
  v.store_aligned(t);
  std::copy(t, t + m, y);
}

/// loss_dr over a block of points: the program on SIMD tiles of dual numbers seeded in r.
void loss_dr_block(const void* ctx, std::size_t n, const double* s, const double* r, const double* p, double* l,
                   double* dl_dr) {
  using D = Dual<dbatch>;
  const FormulaProgram& P = static_cast<const FormulaCost*>(ctx)->program;
  D pd[max_cost_params];
  for (std::size_t j = 0; j < P.n_params; ++j) pd[j] = D(dbatch(p[j]), dbatch(0.0));
  run_tiles<D>(
      P, n, s, r, pd, [](const dbatch& sb, const dbatch& rb, D& ds, D& dr) { ds = D(sb, dbatch(0.0)), dr = D(rb, dbatch(1.0)); },
      [&](std::size_t i, std::size_t m, const D& v) {
        store_first(v.v, m, l + i);
        store_first(v.d, m, dl_dr + i);
      });
}

/// The fused kernel's tile evaluator: one switch per instruction per tile of SIMD batches.
struct FormulaTiles {
  using D = Dual<fbatch>;
  const FormulaProgram& P;
  std::vector<D> buf;
  explicit FormulaTiles(const FormulaProgram& prog) : P(prog), buf(prog.buffer_size(fused_tile)) {}
  std::size_t n_params() const { return P.n_params; }
  void set_params(const float* p) {
    D pd[max_cost_params];
    for (std::size_t j = 0; j < P.n_params; ++j) pd[j] = D(fbatch(p[j]), fbatch(0.0f));
    formula_set_uniform(P, buf.data(), pd);
  }
  void operator()(std::size_t nb, const fbatch* s, const fbatch* r, fbatch* l, fbatch* dl) {
    D* bs = buf.data() + P.offset(0, fused_tile);
    D* br = buf.data() + P.offset(1, fused_tile);
    for (std::size_t q = 0; q < nb; ++q) {
      bs[q] = D(s[q], fbatch(0.0f));
      br[q] = D(r[q], fbatch(1.0f));
    }
    std::size_t off = 0, stride = 0;
    formula_run(P, nb, fused_tile, buf.data(), &off, &stride);
    for (std::size_t q = 0; q < nb; ++q) {
      l[q] = buf[off + q * stride].v;
      dl[q] = buf[off + q * stride].d;
    }
  }
};

void fused_formula(const void* ctx, const FusedArgs& g) {
  FormulaTiles tiles(static_cast<const FormulaCost*>(ctx)->program);
  fused_kernel_tiles(g, tiles);
}

} // namespace

bool formula_slope_dparam(const CostInfo& cost, std::size_t k, std::size_t n, const double* x, const double* p,
                          double* out) {
  if (cost.loss_dr_n.fn != &loss_dr_block || k >= cost.params.size()) return false;
  // Outer dual in r, inner in p_k: the outer derivative's inner derivative is d^2 l / dr dp_k.
  using D = Dual<dbatch>;
  using D2 = Dual<D>;
  const FormulaProgram& P = static_cast<const FormulaCost*>(cost.loss_dr_n.ctx)->program;
  const D zero(dbatch(0.0), dbatch(0.0));
  D2 pd[max_cost_params];
  for (std::size_t j = 0; j < P.n_params; ++j) pd[j] = D2(D(dbatch(p[j]), dbatch(j == k ? 1.0 : 0.0)), zero);
  run_tiles<D2>(
      P, n, nullptr, x, pd,
      [&](const dbatch&, const dbatch& rb, D2& ds, D2& dr) {
        ds = D2(zero, zero);
        dr = D2(D(rb, dbatch(0.0)), D(dbatch(1.0), dbatch(0.0)));
      },
      [&](std::size_t i, std::size_t m, const D2& v) { store_first(v.d.d, m, out + i); });
  return true;
}

bool formula_loss_dparam(const CostInfo& cost, std::size_t k, std::size_t n, const double* x, const double* p, double* l,
                         double* dl_dp) {
  if (cost.loss_dr_n.fn != &loss_dr_block || k >= cost.params.size()) return false;
  using D = Dual<dbatch>;
  const FormulaProgram& P = static_cast<const FormulaCost*>(cost.loss_dr_n.ctx)->program;
  D pd[max_cost_params];
  for (std::size_t j = 0; j < P.n_params; ++j) pd[j] = D(dbatch(p[j]), dbatch(j == k ? 1.0 : 0.0));
  run_tiles<D>(
      P, n, nullptr, x, pd, [](const dbatch&, const dbatch& rb, D& ds, D& dr) { ds = D(0.0), dr = D(rb, dbatch(0.0)); },
      [&](std::size_t i, std::size_t m, const D& v) {
        store_first(v.v, m, l + i);
        store_first(v.d, m, dl_dp + i);
      });
  return true;
}

} // namespace detail

std::vector<ParamPrior> parse_param_priors(const std::string& text) {
  std::vector<ParamPrior> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto eq = item.find('=');
    if (item.empty() || eq == std::string::npos || eq == 0)
      throw ArgumentError("params", "'" + item + "' is not NAME=PRIOR (PRIOR: uniform:A:B or lognormal:LOC:SCALE)");
    const std::string name = item.substr(0, eq);
    for (const auto& p : out)
      if (p.name == name) throw ArgumentError("params", "parameter '" + name + "' is given twice");
    out.push_back(parse_param_prior(name, item.substr(eq + 1)));
  }
  return out;
}

std::string to_string(const std::vector<ParamPrior>& priors) {
  std::string s;
  for (const auto& p : priors) s += (s.empty() ? "" : ",") + p.name + "=" + to_string(p);
  return s;
}

CostInfo make_formula_cost(const FormulaSpec& spec) {
  std::vector<std::string> names;
  for (const auto& p : spec.params) {
    const std::string& n = p.name;
    bool ok = !n.empty() && (std::isalpha(static_cast<unsigned char>(n[0])) || n[0] == '_');
    for (char c : n) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    static const char* reserved[] = {"s", "r", "exp", "log", "sqrt", "abs", "sin", "cos", "min", "max", "if",
                                     "sigma", "sigma_0", "mu_0", "sigma_r", "lapse"};
    for (const char* w : reserved) ok = ok && n != w;
    if (!ok)
      throw ArgumentError("params", "'" + n + "' cannot name a parameter (letters, digits and _, not s, r, a "
                                  "function or one of sigma, sigma_0, mu_0, sigma_r, lapse)");
    names.push_back(n);
  }
  if (names.size() > detail::max_cost_params)
    throw ArgumentError("params", "at most " + std::to_string(detail::max_cost_params) + " parameters");
  auto fc = std::make_shared<detail::FormulaCost>();
  fc->program = detail::compile_formula(spec.expression, names);
  CostInfo c;
  c.expression = spec.expression;
  c.name = spec.name.empty() ? "formula:" + spec.expression : spec.name;
  c.formula = spec.expression;
  c.params = spec.params;
  c.loss = {&detail::loss_double, fc.get()};
  c.loss_dr = {&detail::loss_dr_double, fc.get()};
  c.loss_dr_n = {&detail::loss_dr_block, fc.get()};
  c.fused = {&detail::fused_formula, fc.get()};
  c.owner = fc;
  c.motor_truncation = spec.motor_truncation;
  c.motor_importance_scale = spec.motor_importance_scale;
  c.kink_at_s_equals_r = spec.kink;
  finish_cost_settings(c, spec.kink ? 1 : -1, spec.homogeneity_degree);
  return c;
}

const CostInfo& register_formula_cost(const FormulaSpec& spec) { return register_cost(make_formula_cost(spec)); }

} // namespace bactor
