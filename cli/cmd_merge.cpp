// SPDX-License-Identifier: MIT
// bactor merge: joins the folders of `infer --shard K/N` runs into one fit folder, as one
// process would have written it (docs/cluster.md).
#include "cli/command.hpp"
#include "cli/fit_dir.hpp"
#include "cli/out_dir.hpp"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using bactor::cli::UsageError;

/// One input folder: its map and its shard K of N (1/1 for a run without --shard).
struct Shard {
  std::string dir;
  bactor::cli::SubjectMap map;
  int k = 1, n = 1;
};

Shard read_shard(const std::string& dir) {
  Shard s;
  s.dir = dir;
  const fs::path path = fs::path(dir) / bactor::cli::subjects_file_name;
  if (!fs::is_directory(dir)) throw UsageError(dir + ": not a folder (give the --out folders of infer --shard K/N)");
  if (!fs::exists(path))
    throw UsageError(dir + ": no " + std::string(bactor::cli::subjects_file_name) +
                     " (give the --out folders of infer --shard K/N on data with a subject column)");
  s.map = bactor::cli::read_subject_map(path.string());
  const std::string shard = s.map.get("shard");
  if (!shard.empty()) {
    const auto slash = shard.find('/');
    try {
      s.k = std::stoi(shard.substr(0, slash));
      s.n = std::stoi(shard.substr(slash + 1));
    } catch (const std::exception&) {
      s.k = s.n = 0;
    }
    if (slash == std::string::npos || s.k < 1 || s.k > s.n) throw UsageError(path.string() + ": bad shard '" + shard + "'");
  }
  if (s.map.get("complete") != "1")
    throw UsageError(dir + ": shard " + std::to_string(s.k) + "/" + std::to_string(s.n) +
                     " is incomplete (complete = " + s.map.get("complete") +
                     ": stopped, or still running); rerun it with --overwrite");
  return s;
}

/// The settings that must agree between shards: all but shard and complete.
std::map<std::string, std::string> common_settings(const Shard& s) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : s.map.settings)
    if (k != "shard" && k != "complete") out.emplace(k, v);
  return out;
}

/// Checks that the shards are the N disjoint parts of one run; throws UsageError naming the folder.
void check_shards(const std::vector<Shard>& shards) {
  const Shard& first = shards.front();
  const auto settings = common_settings(first);
  std::map<int, std::string> seen;  // K -> folder
  for (const auto& s : shards) {
    if (s.n != first.n)
      throw UsageError(s.dir + ": shard " + std::to_string(s.k) + "/" + std::to_string(s.n) + " is not one of the " +
                       std::to_string(first.n) + " shards of " + first.dir);
    const auto mine = common_settings(s);
    for (const auto& [k, v] : settings) {
      const auto it = mine.find(k);
      const std::string other = it == mine.end() ? "(absent)" : it->second;
      if (other != v)
        throw UsageError(s.dir + ": " + k + " = " + other + " but " + first.dir + " has " + k + " = " + v +
                         " (the shards of one fit come from one command, with only --shard, --out and --threads changed)");
    }
    for (const auto& [k, v] : mine)
      if (!settings.count(k)) throw UsageError(s.dir + ": records " + k + " = " + v + ", which " + first.dir + " does not");
    const auto [it, fresh] = seen.emplace(s.k, s.dir);
    if (!fresh) throw UsageError("shard " + std::to_string(s.k) + "/" + std::to_string(s.n) + " given twice: " + it->second + " and " + s.dir);
    for (const auto& e : s.map.subjects) {
      if (bactor::cli::subject_shard(e.id, s.n) != s.k)
        throw UsageError(s.dir + ": subject '" + e.id + "' belongs to shard " + std::to_string(bactor::cli::subject_shard(e.id, s.n)) +
                         ", not " + std::to_string(s.k));
      const fs::path sub = fs::path(s.dir) / e.folder;
      bool has_chain = false;
      if (fs::is_directory(fs::symlink_status(sub)))
        for (const auto& f : fs::directory_iterator(sub)) has_chain = has_chain || f.path().filename() == "chain-1.csv";
      if (!has_chain) throw UsageError(s.dir + ": subject '" + e.id + "': " + sub.string() + " has no chain-1.csv");
    }
  }
  if (int(seen.size()) != first.n) {
    std::string missing;
    for (int k = 1; k <= first.n; ++k)
      if (!seen.count(k)) missing += (missing.empty() ? "" : ", ") + std::to_string(k);
    throw UsageError("shard" + std::string(first.n - seen.size() == 1 ? " " : "s ") + missing + " of " + std::to_string(first.n) +
                     " missing: give the --out folder of every infer --shard K/" + std::to_string(first.n));
  }
}

/// The merged subjects in index order; throws when one is in two shards or the total differs.
std::vector<std::pair<bactor::cli::SubjectEntry, std::string>> merged_subjects(const std::vector<Shard>& shards) {
  std::map<std::size_t, std::pair<bactor::cli::SubjectEntry, std::string>> by_index;  // index -> (entry, shard dir)
  for (const auto& s : shards)
    for (const auto& e : s.map.subjects) {
      const auto [it, fresh] = by_index.emplace(e.index, std::make_pair(e, s.dir));
      if (!fresh) throw UsageError("subject " + std::to_string(e.index) + " ('" + e.id + "') is in both " + it->second.second + " and " + s.dir);
    }
  const std::string total = shards.front().map.get("subjects_total");
  if (std::to_string(by_index.size()) != total)
    throw UsageError("the shards hold " + std::to_string(by_index.size()) + " subjects, the data file " + total +
                     " (a subject folder was removed from a shard?)");
  std::vector<std::pair<bactor::cli::SubjectEntry, std::string>> out;
  for (auto& [index, v] : by_index) out.push_back(std::move(v));
  return out;
}

void copy_file_atomically(const fs::path& from, const fs::path& to) {
  const fs::path tmp = to.string() + ".tmp";
  std::error_code ec;
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(tmp, to, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw std::runtime_error(to.string() + ": cannot copy " + from.string() + ": " + ec.message());
  }
}

int run_merge(int argc, char** argv) {
  CLI::App app{"Joins the --out folders of `infer --shard K/N` (K = 1..N) into one fit folder, as one process writes it: "
               "refuses missing or repeated shards, subjects in two shards, and shards of different settings"};
  std::vector<std::string> inputs;
  std::string out;
  bool overwrite = false;
  app.add_option("dirs", inputs, "the shards' --out folders")->required();
  app.add_option("--out", out, "the merged fit folder (new or empty, or see --overwrite)")->required();
  app.add_flag("--overwrite", overwrite, "replace the fit in a non-empty --out (only the files bactor wrote are removed)");
  if (!bactor::cli::parse(app, argc, argv)) return bactor::cli::exit_ok;

  std::vector<Shard> shards;
  for (const auto& d : inputs) shards.push_back(read_shard(d));
  std::error_code ec;
  for (const auto& s : shards)
    if (fs::weakly_canonical(s.dir, ec) == fs::weakly_canonical(out, ec))
      throw UsageError("--out " + out + ": is one of the shards; give a new folder");
  check_shards(shards);
  const auto subjects = merged_subjects(shards);

  const auto lock = bactor::cli::prepare_fit_dir(out, "--out", overwrite);
  bactor::cli::SubjectMap merged;
  for (const auto& [k, v] : shards.front().map.settings)
    if (k != "shard") merged.settings.emplace_back(k, v);
  // Until every subject is copied, the map says so (complete = 0, no subjects): a reader of a
  // merge that was stopped halfway gets an error, not a part of the cohort.
  auto complete = std::find_if(merged.settings.begin(), merged.settings.end(), [](const auto& kv) { return kv.first == "complete"; });
  if (complete == merged.settings.end()) throw UsageError(shards.front().dir + ": subjects.csv records no 'complete' line");
  complete->second = "0";
  bactor::cli::write_subject_map(out, merged);
  for (const auto& [e, dir] : subjects) {
    const fs::path from = fs::path(dir) / e.folder, to = fs::path(out) / e.folder;
    fs::create_directories(to);
    for (const auto& f : fs::directory_iterator(from)) {
      const std::string name = f.path().filename().string();
      const bool draws = name.rfind("chain-", 0) == 0 && name.size() > 10 && name.compare(name.size() - 4, 4, ".csv") == 0;
      if (f.is_regular_file() && (draws || name == "summary.csv")) copy_file_atomically(f.path(), to / name);
    }
    merged.subjects.push_back(e);
  }
  complete->second = "1";
  bactor::cli::write_subject_map(out, merged);
  std::cout << "merged " << shards.size() << " shard" << (shards.size() == 1 ? "" : "s") << ", " << subjects.size()
            << " subjects, into " << out << "\n";
  return bactor::cli::exit_ok;
}

} // namespace

BACTOR_COMMAND("merge", "join the folders of infer --shard K/N runs into one fit folder", run_merge);
