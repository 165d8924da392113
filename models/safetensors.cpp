// SPDX-License-Identifier: MIT
#include <bactor/models/safetensors.hpp>
#include "models/output_path.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace bactor {

static_assert(std::endian::native == std::endian::little, "safetensors IO assumes a little-endian host");

const F32Tensor* SafetensorsContent::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

void write_safetensors(const std::string& path, const SafetensorsContent& content) {
  nlohmann::json header = nlohmann::json::object();
  std::uint64_t offset = 0;
  for (const auto& t : content.tensors) {
    const std::uint64_t bytes = t.data.size() * sizeof(float);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [k, v] : content.metadata) meta[k] = v;
  header["__metadata__"] = meta;
  std::string text = header.dump();
  while (text.size() % 8) text += ' ';  // align the data to 8 bytes
  const std::uint64_t n = text.size();

  detail::check_replaceable_path(path);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(path + ": cannot open '" + tmp + "' for writing");
    char len[8];
    std::memcpy(len, &n, 8);
    out.write(len, 8);
    out.write(text.data(), std::streamsize(text.size()));
    for (const auto& t : content.tensors)
      out.write(reinterpret_cast<const char*>(t.data.data()), std::streamsize(t.data.size() * sizeof(float)));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw std::runtime_error(path + ": write failed");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(path + ": cannot rename '" + tmp + "' to it");
  }
}

SafetensorsContent read_safetensors(const std::string& path) {
  auto fail = [&](const std::string& what) { return std::invalid_argument(path + ": " + what); };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail("cannot open file");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 8) throw fail("truncated file (" + std::to_string(bytes.size()) + " bytes, no header length)");
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n > bytes.size() - 8)
    throw fail("header length " + std::to_string(n) + " exceeds the file size " + std::to_string(bytes.size()) +
               " (truncated or not a safetensors file)");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(n));
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("bad JSON header: ") + e.what());
  }
  if (!header.is_object()) throw fail("the JSON header is not an object");
  const std::uint64_t data_size = bytes.size() - 8 - n;
  const char* data = bytes.data() + 8 + n;

  SafetensorsContent c;
  struct Span { std::uint64_t begin, end; std::string name; };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw fail("__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw fail("metadata '" + m.key() + "' is not a string");
        c.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      throw fail("tensor '" + name + "' lacks dtype, shape or data_offsets");
    if (!v["dtype"].is_string() || v["dtype"].get<std::string>() != "F32")
      throw fail("tensor '" + name + "' has dtype " + v["dtype"].dump() + " (only F32 is supported)");
    F32Tensor t;
    t.name = name;
    std::uint64_t count = 1;
    if (!v["shape"].is_array()) throw fail("tensor '" + name + "': shape is not a list");
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0 || d.get<std::int64_t>() > (1LL << 40))
        throw fail("tensor '" + name + "': bad shape " + v["shape"].dump());
      t.shape.push_back(d.get<std::int64_t>());
      count *= std::uint64_t(t.shape.back());
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw fail("tensor '" + name + "': data_offsets must be two non-negative integers");
    const std::uint64_t b = off[0].get<std::uint64_t>(), e = off[1].get<std::uint64_t>();
    if (b > e || e > data_size)
      throw fail("tensor '" + name + "': data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                 "] outside the " + std::to_string(data_size) + " data bytes (truncated file?)");
    if (e - b != count * sizeof(float))
      throw fail("tensor '" + name + "': " + std::to_string(e - b) + " bytes do not match shape " + v["shape"].dump());
    t.data.resize(count);
    if (count) std::memcpy(t.data.data(), data + b, count * sizeof(float));
    for (float x : t.data)
      if (!std::isfinite(x)) throw fail("tensor '" + name + "' holds a non-finite value");
    spans.push_back({b, e, name});
    c.tensors.push_back(std::move(t));
  }
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) { return x.begin < y.begin; });
  std::uint64_t pos = 0;
  for (const auto& s : spans) {
    if (s.begin < pos) throw fail("tensor '" + s.name + "' overlaps another tensor");
    if (s.begin > pos) throw fail("gap in the data before tensor '" + s.name + "'");
    pos = s.end;
  }
  if (pos != data_size)
    throw fail(std::to_string(data_size - pos) + " trailing bytes after the last tensor");
  std::sort(c.tensors.begin(), c.tensors.end(), [&](const F32Tensor& x, const F32Tensor& y) {
    auto fx = std::find_if(spans.begin(), spans.end(), [&](const Span& s) { return s.name == x.name; });
    auto fy = std::find_if(spans.begin(), spans.end(), [&](const Span& s) { return s.name == y.name; });
    return fx->begin < fy->begin;
  });
  return c;
}

} // namespace bactor
