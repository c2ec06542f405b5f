// SPDX-License-Identifier: MIT
//
// lfc_bench: the only C++ in lfchan. It registers the C workloads
// (bench_cases() in chan_bench.c, which appends select_bench.c's and
// pattern_bench.c's rows) with google-benchmark, one benchmark per
// (pattern, implementation, args), and hands every result back to the C
// side for results.csv / summary.md. The C side knows nothing of C++.
// Pattern rows (BM_pool_*, BM_merge_*, BM_sem_*) count tasks, values or
// acquire+release pairs where channel rows count messages: their
// Mmsg_per_s is millions of those per second.
//
// Time: each iteration is one full workload run; its wall-clock time from
// the start barrier to the last receive is reported with
// SetIterationTime (UseManualTime), so thread creation, pinning and
// channel allocation are not counted. Counters: items_per_second,
// Mmsg_per_s, cpu_s_per_Mmsg (getrusage RUSAGE_SELF around the run),
// ctxsw_per_msg, msgs, and for ping-pong and latency rows p50_ns, p99_ns,
// p999_ns, max_ns.
//
// Flags of our own (everything else goes to google-benchmark):
//   --lfcb_mode=quick|default|full   message counts, time caps, iterations
//   --lfcb_pin=all|none|split|same   placements (comma-separated list ok)
//   --lfcb_filter=REGEX              run matching names (leading '-': not)
//   --lfcb_msgs=N --lfcb_max_s=S --lfcb_iterations=N   override the mode
//   --lfcb_outdir=DIR                write results.csv, summary.md, *.dat
//   --lfcb_machine=FILE              markdown copied into summary.md
//   --lfcb_cmdline=STRING            the command quoted in summary.md
//   --lfcb_list                      print the selected names and exit
// Exit status: 0 if every benchmark ran and verified, 1 otherwise.

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "bench.h"

namespace {

std::vector<bench_case> g_cases;
size_t g_total = 0;
size_t g_done = 0;
bool g_failed = false;

void run_case(benchmark::State &st, size_t idx) {
  const bench_case &c = g_cases[idx];
  // A result holds a histogram (about 9 KB): keep it off the stack.
  std::unique_ptr<bench_result> acc(new bench_result());
  std::unique_ptr<bench_result> one(new bench_result());

  std::memset(acc.get(), 0, sizeof(*acc));
  lfc_hist_init(&acc->hist);
  acc->ok = true;
  for (auto _ : st) {
    bench_run(&c, one.get());
    st.SetIterationTime(one->wall_s > 0 ? one->wall_s : 1e-9);
    bench_result_add(acc.get(), one.get());
    if (!one->ok) {
      st.SkipWithError(one->err);
      g_failed = true;
      break;
    }
  }
  bench_report_add(&c, acc.get());

  double msgs = static_cast<double>(acc->msgs);
  st.SetItemsProcessed(static_cast<int64_t>(acc->msgs));
  st.counters["msgs"] = msgs;
  st.counters["Mmsg_per_s"] = acc->wall_s > 0 ? msgs / acc->wall_s / 1e6 : 0;
  st.counters["cpu_s_per_Mmsg"] = msgs > 0 ? acc->cpu_s / msgs * 1e6 : 0;
  st.counters["ctxsw_per_msg"] =
      msgs > 0 ? static_cast<double>(acc->ctxsw) / msgs : 0;
  if (acc->hist.count > 0) {
    st.counters["p50_ns"] = static_cast<double>(lfc_hist_quantile(&acc->hist, 0.5));
    st.counters["p99_ns"] = static_cast<double>(lfc_hist_quantile(&acc->hist, 0.99));
    st.counters["p999_ns"] =
        static_cast<double>(lfc_hist_quantile(&acc->hist, 0.999));
    st.counters["max_ns"] = static_cast<double>(acc->hist.max);
  }
  if (acc->note[0] != '\0') st.SetLabel(acc->note);
}

// One progress line per benchmark, instead of google-benchmark's table.
class ProgressReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context &) override { return true; }

  void ReportRuns(const std::vector<Run> &runs) override {
    for (const Run &r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;
      ++g_done;
      char line[512];
      std::string name = r.benchmark_name();
      // Drop google-benchmark's "/iterations:N/manual_time" suffix.
      size_t cut = name.find("/iterations:");
      if (cut != std::string::npos) name.resize(cut);
      if (r.error_occurred) {
        std::snprintf(line, sizeof(line), "[%3zu/%zu] %-76s FAILED: %s",
                      g_done, g_total, name.c_str(), r.error_message.c_str());
      } else {
        auto get = [&](const char *k) {
          auto it = r.counters.find(k);
          return it == r.counters.end() ? NAN : it->second.value;
        };
        char lat[96] = "";
        if (!std::isnan(get("p50_ns")))
          std::snprintf(lat, sizeof(lat), "  p50 %.0f ns  p99 %.0f ns",
                        get("p50_ns"), get("p99_ns"));
        std::snprintf(line, sizeof(line),
                      "[%3zu/%zu] %-76s %9.4f Mmsg/s %8.3f CPU-s/Mmsg%s%s%s",
                      g_done, g_total, name.c_str(), get("Mmsg_per_s"),
                      get("cpu_s_per_Mmsg"), lat,
                      r.report_label.empty() ? "" : "  # ",
                      r.report_label.c_str());
      }
      GetOutputStream() << line << std::endl;
    }
  }
};

bool take_flag(const char *arg, const char *name, std::string *val) {
  size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0) return false;
  if (arg[n] == '=') {
    *val = arg + n + 1;
    return true;
  }
  if (arg[n] == '\0') {
    *val = "1";
    return true;
  }
  return false;
}

[[noreturn]] void usage_error(const std::string &msg) {
  std::fprintf(stderr, "lfc_bench: %s\n", msg.c_str());
  std::exit(2);
}

unsigned parse_pins(const std::string &s) {
  unsigned pins = 0;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    if (tok == "all")
      pins |= 7u;
    else if (tok == "none")
      pins |= 1u << BENCH_PIN_NONE;
    else if (tok == "split")
      pins |= 1u << BENCH_PIN_SPLIT;
    else if (tok == "same")
      pins |= 1u << BENCH_PIN_SAME;
    else
      usage_error("--lfcb_pin: want all, none, split or same, not '" + tok +
                  "'");
  }
  return pins ? pins : 7u;
}

}  // namespace

int main(int argc, char **argv) {
  bench_config cfg;
  std::memset(&cfg, 0, sizeof(cfg));
  cfg.mode = BENCH_DEFAULT;
  cfg.pins = 7u;
  std::string filter, outdir, machine_file, cmdline;
  bool list = false;

  // Take our flags out of argv; google-benchmark gets the rest.
  std::vector<char *> rest;
  rest.push_back(argv[0]);
  for (int i = 1; i < argc; i++) {
    std::string v;
    const char *a = argv[i];
    if (take_flag(a, "--lfcb_mode", &v)) {
      if (v == "quick")
        cfg.mode = BENCH_QUICK;
      else if (v == "default")
        cfg.mode = BENCH_DEFAULT;
      else if (v == "full")
        cfg.mode = BENCH_FULL;
      else
        usage_error("--lfcb_mode: want quick, default or full");
    } else if (take_flag(a, "--lfcb_pin", &v)) {
      cfg.pins = parse_pins(v);
    } else if (take_flag(a, "--lfcb_filter", &v)) {
      filter = v;
    } else if (take_flag(a, "--lfcb_msgs", &v)) {
      cfg.msgs = std::strtoull(v.c_str(), nullptr, 10);
    } else if (take_flag(a, "--lfcb_max_s", &v)) {
      cfg.max_s = std::strtod(v.c_str(), nullptr);
    } else if (take_flag(a, "--lfcb_iterations", &v)) {
      cfg.iterations = std::atoi(v.c_str());
    } else if (take_flag(a, "--lfcb_outdir", &v)) {
      outdir = v;
    } else if (take_flag(a, "--lfcb_machine", &v)) {
      machine_file = v;
    } else if (take_flag(a, "--lfcb_cmdline", &v)) {
      cmdline = v;
    } else if (take_flag(a, "--lfcb_list", &v)) {
      list = true;
    } else if (std::strncmp(a, "--lfcb_", 7) == 0) {
      usage_error(std::string("unknown flag ") + a);
    } else {
      rest.push_back(argv[i]);
    }
  }
  int rargc = static_cast<int>(rest.size());
  rest.push_back(nullptr);
  benchmark::Initialize(&rargc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rargc, rest.data())) return 2;

  // The case matrix, narrowed by --lfcb_filter.
  size_t n = 0;
  bench_case *all = bench_cases(&cfg, &n);
  bool negate = !filter.empty() && filter[0] == '-';
  std::regex re;
  try {
    re = std::regex(negate ? filter.substr(1) : filter,
                    std::regex::extended);
  } catch (const std::regex_error &e) {
    usage_error("--lfcb_filter: bad regular expression: " + filter);
  }
  for (size_t i = 0; i < n; i++) {
    bool hit = filter.empty() || filter == "all" ||
               std::regex_search(all[i].name, re) != negate;
    if (hit) g_cases.push_back(all[i]);
  }
  std::free(all);
  if (g_cases.empty()) {
    std::fprintf(stderr, "lfc_bench: no benchmark matches '%s'\n",
                 filter.c_str());
    return 1;
  }
  if (list) {
    for (const bench_case &c : g_cases) std::printf("%s\n", c.name);
    return 0;
  }

  // The self-test runs under the watchdog too, with no progress counters:
  // it takes well under a second, so 30 s means it hangs.
  bench_watchdog_start();
  bench_watch_begin("the self-test", 0);
  bool selftest_ok = bench_selftest();
  bench_watch_end();
  if (!selftest_ok) {
    std::fprintf(stderr, "lfc_bench: selftest FAILED: an implementation "
                         "breaks channel semantics; not benchmarking it\n");
    return 1;
  }

  for (size_t i = 0; i < g_cases.size(); i++) {
    benchmark::RegisterBenchmark(g_cases[i].name, run_case, i)
        ->Iterations(g_cases[i].iterations)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  g_total = g_cases.size();
  std::printf("lfc_bench: %zu benchmarks on %d CPU(s)\n", g_total,
              bench_ncpus());
  std::fflush(stdout);

  ProgressReporter progress;
  benchmark::RunSpecifiedBenchmarks(&progress);
  benchmark::Shutdown();

  if (!outdir.empty()) {
    std::string machine;
    if (!machine_file.empty()) {
      std::ifstream in(machine_file);
      std::stringstream ss;
      ss << in.rdbuf();
      machine = ss.str();
    }
    if (!bench_report_write(outdir.c_str(),
                            machine.empty() ? nullptr : machine.c_str(),
                            cmdline.empty() ? nullptr : cmdline.c_str()))
      return 1;
  }
  if (g_failed) {
    std::fprintf(stderr, "lfc_bench: FAILED: at least one benchmark did "
                         "not verify (see above)\n");
    return 1;
  }
  return 0;
}
