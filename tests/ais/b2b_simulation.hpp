// SPDX-License-Identifier: MIT
// Offline bucket-to-bucket transform (`bucket.transform(to_bck=...)`), as a
// cluster of emulated targets runs it: each target owns the source objects
// HRW places on it (core/meta/hrw.go), sends each through its own pod, and
// names the destination target in Ais-Node-Url whenever the destination
// object belongs to another target (ais/tgtobj.go:1752-1783); when it belongs
// to itself the pod answers the bytes and the target writes them locally.
// Used by tests/ais/test_bucket_to_bucket.cpp and bench/bench_ais.cpp.
#pragma once

#include "harness.hpp"
#include "target_emulator.hpp"

#include <deque>

namespace wds_ais {

enum class comm { hpush, hpull, ws };

inline const char* to_string(comm c) {
  switch (c) {
    case comm::hpush: return "hpush://";
    case comm::hpull: return "hpull://";
    case comm::ws: return "ws://";
  }
  return "?";
}

struct b2b_object {
  std::string name, data;
};

// A few dozen small shards, names with '/', spaces, non-ASCII, parentheses.
inline std::vector<b2b_object> b2b_objects(int n) {
  std::vector<b2b_object> out;
  for (int i = 0; i < n; ++i) {
    std::string name;
    switch (i % 3) {
      case 0: name = "train/shard-" + std::to_string(1000 + i).substr(1) + ".tar"; break;
      case 1: name = "val/\xc3\xa4 \xc3\xb6/shard " + std::to_string(i) + ".tar"; break;
      default: name = "test/x (" + std::to_string(i) + ").tar"; break;
    }
    out.push_back({name, make_shard(i, 2 + i % 3)});
  }
  return out;
}

class b2b_cluster {
 public:
  struct options {
    std::size_t targets = 3;
    std::vector<std::string> pod_args = test_map_args();
    int workers_per_target = 2;         // concurrent objects per target (HTTP)
    int ws_connections_per_target = 2;  // connections in the target's ws session
    bool pass_fqn = true;               // false: objects travel in the body
  };

  explicit b2b_cluster(options o) : opt_(std::move(o)) {
    for (std::size_t i = 0; i < opt_.targets; ++i) {
      const std::string id = "t" + std::to_string(i + 1);
      ids_.push_back(id);
      targets_.push_back(std::make_unique<target>(target::options{id, "wds-etl", "s3cr3tXY", dir_ / id}));
    }
    for (auto& t : targets_)
      pods_.push_back(std::make_unique<pod>(pod::options{opt_.pod_args, {{"AIS_TARGET_URL", t->ais_target_url()}, {"direct_put", "true"}}}));
  }

  std::size_t size() const { return targets_.size(); }
  target& at(std::size_t i) { return *targets_[i]; }
  std::size_t owner(const std::string& bucket, const std::string& name) const { return hrw::owner(ids_, uname(bucket, name)); }

  // Puts each source object on its HRW target.
  void load(const std::vector<b2b_object>& objs) {
    objects_ = objs;
    for (const auto& o : objs) targets_[owner("src", o.name)]->put_object("src", o.name, o.data);
  }

  // Runs the transform src -> dst over `mode`; returns what went wrong (empty: nothing).
  std::vector<std::string> run(comm mode) {
    for (auto& t : targets_) t->drop_bucket("dst");
    {
      std::lock_guard<std::mutex> lock(m_);
      errors_.clear();
      local_writes_.clear();
    }
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < targets_.size(); ++t) threads.emplace_back([this, t, mode] { run_target(t, mode); });
    for (auto& th : threads) th.join();
    std::lock_guard<std::mutex> lock(m_);
    return errors_;
  }

  // Every destination object on its HRW target only, written exactly once,
  // byte-identical to `want` (same order as the loaded objects).
  std::vector<std::string> verify(const std::vector<std::string>& want) const {
    std::vector<std::string> problems;
    for (std::size_t i = 0; i < objects_.size(); ++i) {
      const auto& name = objects_[i].name;
      const std::size_t home = owner("dst", name);
      for (std::size_t t = 0; t < targets_.size(); ++t) {
        auto got = targets_[t]->object("dst", name);
        if (t != home) {
          if (got) problems.push_back(name + ": also on " + ids_[t] + " (HRW says " + ids_[home] + ")");
          continue;
        }
        if (!got) problems.push_back(name + ": missing on " + ids_[t]);
        else if (*got != want[i]) problems.push_back(name + ": differs from the CLI's output (" + std::to_string(got->size()) + " vs " + std::to_string(want[i].size()) + " bytes)");
      }
      int writes = targets_[home]->puts_of("dst", name);
      {
        std::lock_guard<std::mutex> lock(m_);
        auto it = local_writes_.find(name);
        if (it != local_writes_.end()) writes += it->second;
      }
      if (writes != 1) problems.push_back(name + ": written " + std::to_string(writes) + " times");
    }
    return problems;
  }

 private:
  struct task {
    std::size_t index;  // into objects_
    std::size_t dest;   // destination target
  };

  void fail(const std::string& what) {
    std::lock_guard<std::mutex> lock(m_);
    errors_.push_back(what);
  }
  void wrote_locally(std::size_t t, const std::string& name, const std::string& data) {
    targets_[t]->put_object("dst", name, data);
    std::lock_guard<std::mutex> lock(m_);
    ++local_writes_[name];
  }

  std::vector<task> local_tasks(std::size_t t) const {
    std::vector<task> out;
    for (std::size_t i = 0; i < objects_.size(); ++i)
      if (owner("src", objects_[i].name) == t) out.push_back({i, owner("dst", objects_[i].name)});
    return out;
  }

  void run_target(std::size_t t, comm mode) {
    try {
      if (mode == comm::ws)
        run_ws(t);
      else
        run_http(t, mode);
    } catch (const std::exception& e) {
      fail(ids_[t] + ": " + e.what());
    }
  }

  void run_http(std::size_t t, comm mode) {
    const auto tasks = local_tasks(t);
    std::atomic<std::size_t> next{0};
    pod_client client(pods_[t]->host_port());
    auto worker = [&] {
      for (std::size_t k; (k = next.fetch_add(1)) < tasks.size();) {
        const auto& tk = tasks[k];
        const auto& o = objects_[tk.index];
        object_ref ref{"src", o.name, targets_[t]->fqn("src", o.name), opt_.pass_fqn ? std::string() : o.data, opt_.pass_fqn};
        call_args a;
        if (tk.dest != t) a.pipeline = {targets_[tk.dest]->destination_entry("dst", o.name, xid)};
        a.max_attempts = 3;
        try {
          exchange x = mode == comm::hpush ? hpush(client, ref, a) : hpull(client, ref, a);
          const int want = tk.dest != t ? 204 : 200;
          if (x.status != want) {
            fail(o.name + " via " + to_string(mode) + ": " + std::to_string(x.status) + " (want " + std::to_string(want) + ") " + x.body.substr(0, 200));
          } else if (tk.dest == t) {
            wrote_locally(t, o.name, x.body);
          }
        } catch (const std::exception& e) {
          fail(o.name + " via " + to_string(mode) + ": " + e.what());
        }
      }
    };
    std::vector<std::thread> workers;
    for (int w = 0; w < opt_.workers_per_target; ++w) workers.emplace_back(worker);
    for (auto& w : workers) w.join();
  }

  // One ws session per target (websocket_comm.go:160-205): several
  // connections share the work; each connection's writeLoop sends tasks and
  // its readLoop takes the answers in the same order.
  void run_ws(std::size_t t) {
    const auto tasks = local_tasks(t);
    std::atomic<std::size_t> next{0};
    auto connection = [&] {
      ws_connection ws(pods_[t]->host_port());
      std::mutex qm;
      std::condition_variable qcv;
      std::deque<std::optional<task>> in_flight;  // nullopt: the writer is done
      std::thread writer([&] {
        for (std::size_t k; (k = next.fetch_add(1)) < tasks.size();) {
          const auto& tk = tasks[k];
          const auto& o = objects_[tk.index];
          ws_control c;
          c.path = o.name;
          if (tk.dest != t) c.pipeline = targets_[tk.dest]->destination_entry("dst", o.name, xid);
          try {
            if (opt_.pass_fqn) {
              c.fqn = targets_[t]->fqn("src", o.name);
              ws.send(c);
            } else {
              ws.send(c, o.data);
            }
          } catch (const std::exception& e) {
            fail(o.name + " via ws:// send: " + e.what());
            break;
          }
          std::lock_guard<std::mutex> lock(qm);
          in_flight.push_back(tk);
          qcv.notify_one();
        }
        std::lock_guard<std::mutex> lock(qm);
        in_flight.push_back(std::nullopt);
        qcv.notify_one();
      });
      bool broken = false;
      for (;;) {
        std::optional<task> tk;
        {
          std::unique_lock<std::mutex> lock(qm);
          qcv.wait(lock, [&] { return !in_flight.empty(); });
          tk = in_flight.front();
          in_flight.pop_front();
        }
        if (!tk) break;
        const auto& o = objects_[tk->index];
        if (broken) {
          fail(o.name + " via ws://: lost with its connection");
          continue;
        }
        ws_answer a = ws.receive();
        const auto want = tk->dest != t ? ws_answer::text : ws_answer::binary;
        if (a.kind != want) {
          fail(o.name + " via ws://: " + wds_ais::to_string(a.kind) + " (want " + wds_ais::to_string(want) + ") " + a.what);
          if (a.kind == ws_answer::error || a.kind == ws_answer::clean_close) broken = true;
        } else if (want == ws_answer::binary) {
          wrote_locally(t, o.name, a.data);
        }
      }
      writer.join();
      if (!broken) ws.close();
    };
    std::vector<std::thread> conns;
    for (int k = 0; k < opt_.ws_connections_per_target; ++k)
      conns.emplace_back([&, k] {
        try {
          connection();
        } catch (const std::exception& e) {
          fail(ids_[t] + " ws connection " + std::to_string(k) + ": " + e.what());
        }
      });
    for (auto& c : conns) c.join();
  }

  static constexpr const char* xid = "tco-b2bSim01";
  options opt_;
  scratch_dir dir_;
  std::vector<std::string> ids_;
  std::vector<std::unique_ptr<target>> targets_;
  std::vector<std::unique_ptr<pod>> pods_;
  std::vector<b2b_object> objects_;
  mutable std::mutex m_;
  std::vector<std::string> errors_;
  std::map<std::string, int> local_writes_;
};

}  // namespace wds_ais
