//! Checks of the machine Pulse runs on: CPU, memory, disk and load, read
//! through sysinfo. Sampling is blocking work (it reads /proc and statfs),
//! so it runs on the blocking pool; a stuck filesystem then stalls a pool
//! thread, never the engine, and the engine's timeout reports it.

use super::{Finding, Kind};
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::{CheckKind, Health};
use serde::Deserialize;
use crate::text::human_bytes;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use sysinfo::{Disks, System};
use toml::de::ValueDeserializer;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostSpec {
    pub(crate) metric: HostMetricName,
    /// For `disk`: a path on the filesystem to watch; `/` if unset.
    pub(crate) path: Option<PathBuf>,
    /// Percent (per-core load for `load`) at which the check turns degraded.
    pub(crate) degraded: Option<f64>,
    /// … and down.
    pub(crate) down: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HostMetricName {
    Cpu,
    Memory,
    Disk,
    Load,
}

fn validate_host(spec: &HostSpec) -> Result<(), String> {
    if spec.path.is_some() && spec.metric != HostMetricName::Disk {
        return Err("`path` is only for metric = \"disk\"".into());
    }
    let percent = spec.metric != HostMetricName::Load;
    for (key, value) in [("degraded", spec.degraded), ("down", spec.down)] {
        match value {
            Some(v) if !v.is_finite() || v < 0.0 || (percent && v > 100.0) => {
                let range = if percent {
                    "0 to 100 (percent)"
                } else {
                    "0 or more (load per core)"
                };
                return Err(format!("`{key}` must be {range}, not {v}"));
            }
            _ => {}
        }
    }
    if let (Some(degraded), Some(down)) = (spec.degraded, spec.down)
        && degraded > down
    {
        return Err(format!(
            "`degraded` ({degraded}) must not be above `down` ({down})"
        ));
    }
    Ok(())
}

/// Percent (or, for load, per-core) levels at which a reading turns
/// degraded or down.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Thresholds {
    pub(crate) degraded: f64,
    pub(crate) down: f64,
}

/// Busy CPU and used memory/disk, in percent.
pub(crate) const USAGE: Thresholds = Thresholds {
    degraded: 85.0,
    down: 95.0,
};
/// One-minute load per core: queueing starts at 1; at 4 the host is swamped.
pub(crate) const LOAD_PER_CORE: Thresholds = Thresholds {
    degraded: 1.5,
    down: 4.0,
};

impl Thresholds {
    /// What a check that sets no thresholds uses.
    pub(crate) fn default_for(metric: &HostMetric) -> Thresholds {
        match metric {
            HostMetric::Load => LOAD_PER_CORE,
            _ => USAGE,
        }
    }

    pub(crate) fn judge(self, value: f64) -> Health {
        if value >= self.down {
            Health::Down
        } else if value >= self.degraded {
            Health::Degraded
        } else {
            Health::Up
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum HostMetric {
    /// Busy share of all cores since the previous run.
    Cpu,
    /// Used share of physical memory.
    Memory,
    /// Used share of the filesystem holding this path.
    Disk(PathBuf),
    /// One-minute load average per core.
    Load,
}

pub(crate) struct HostProbe {
    metric: HostMetric,
    thresholds: Thresholds,
    /// Kept between runs: CPU usage is the difference of two readings.
    system: Arc<Mutex<Option<System>>>,
}

impl HostProbe {
    pub fn new(metric: HostMetric, thresholds: Thresholds) -> Self {
        HostProbe {
            metric,
            thresholds,
            system: Arc::new(Mutex::new(None)),
        }
    }

    pub(crate) fn from_spec(spec: &HostSpec) -> Self {
        let metric = match spec.metric {
            HostMetricName::Cpu => HostMetric::Cpu,
            HostMetricName::Memory => HostMetric::Memory,
            HostMetricName::Disk => {
                HostMetric::Disk(spec.path.clone().unwrap_or_else(|| PathBuf::from("/")))
            }
            HostMetricName::Load => HostMetric::Load,
        };
        let fallback = Thresholds::default_for(&metric);
        let thresholds = Thresholds {
            degraded: spec.degraded.unwrap_or(fallback.degraded),
            down: spec.down.unwrap_or(fallback.down),
        };
        HostProbe::new(metric, thresholds)
    }
}

fn sample(metric: &HostMetric, thresholds: Thresholds, system: &mut Option<System>) -> Finding {
    match metric {
        HostMetric::Cpu => cpu(thresholds, system),
        HostMetric::Memory => memory(thresholds),
        HostMetric::Disk(path) => disk(path, thresholds),
        HostMetric::Load => load(thresholds),
    }
}

impl Kind for HostProbe {
    const NAME: &'static str = "host";
    const CHECK_KIND: CheckKind = CheckKind::Host;
    type Spec = HostSpec;

    fn read(said: ValueDeserializer<'_>, _: &Files<'_>) -> Result<HostSpec, BadKeys> {
        let spec: HostSpec = keys(said)?;
        validate_host(&spec)?;
        Ok(spec)
    }

    fn probe(spec: &HostSpec) -> Result<Self, String> {
        Ok(HostProbe::from_spec(spec))
    }

    async fn run(&self) -> Finding {
        let metric = self.metric.clone();
        let thresholds = self.thresholds;
        let system = self.system.clone();
        let sampled = tokio::task::spawn_blocking(move || {
            let mut guard = system.lock().unwrap_or_else(|p| p.into_inner());
            sample(&metric, thresholds, &mut guard)
        })
        .await;
        sampled.unwrap_or_else(|e| Finding::down(format!("reading the host failed: {e}")))
    }
}

fn cpu(thresholds: Thresholds, system: &mut Option<System>) -> Finding {
    let system = system.get_or_insert_with(|| {
        // The first reading needs a baseline a moment earlier.
        let mut fresh = System::new();
        fresh.refresh_cpu_usage();
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        fresh
    });
    system.refresh_cpu_usage();
    let busy = f64::from(system.global_cpu_usage());
    let cores = system.cpus().len();
    Finding::new(
        thresholds.judge(busy),
        format!("{busy:.1}% busy across {cores} cores"),
    )
}

fn memory(thresholds: Thresholds) -> Finding {
    let mut system = System::new();
    system.refresh_memory();
    let total = system.total_memory();
    if total == 0 {
        return Finding::down("the host reports no memory");
    }
    // `available` counts reclaimable cache as free, which is what matters.
    let used = total.saturating_sub(system.available_memory());
    let share = used as f64 * 100.0 / total as f64;
    Finding::new(
        thresholds.judge(share),
        format!(
            "{} of {} used ({share:.0}%)",
            human_bytes(used),
            human_bytes(total)
        ),
    )
}

fn disk(path: &std::path::Path, thresholds: Thresholds) -> Finding {
    let disks = Disks::new_with_refreshed_list();
    // The filesystem holding `path` is the mount with the longest prefix.
    let holder = disks
        .list()
        .iter()
        .filter(|d| path.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len());
    let Some(disk) = holder else {
        return Finding::down(format!("no mounted filesystem holds {}", path.display()));
    };
    let total = disk.total_space();
    if total == 0 {
        return Finding::down(format!(
            "{} reports a size of zero",
            disk.mount_point().display()
        ));
    }
    let used = total.saturating_sub(disk.available_space());
    let share = used as f64 * 100.0 / total as f64;
    Finding::new(
        thresholds.judge(share),
        format!(
            "{} of {} used ({share:.0}%) on {}",
            human_bytes(used),
            human_bytes(total),
            disk.mount_point().display()
        ),
    )
}

fn load(thresholds: Thresholds) -> Finding {
    let load = System::load_average();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_core = load.one / cores as f64;
    Finding::new(
        thresholds.judge(per_core),
        format!(
            "{:.2} {:.2} {:.2} (1, 5, 15 min) on {cores} cores",
            load.one, load.five, load.fifteen
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_inclusive_lower_bounds() {
        let t = Thresholds {
            degraded: 80.0,
            down: 95.0,
        };
        assert_eq!(t.judge(79.9), Health::Up);
        assert_eq!(t.judge(80.0), Health::Degraded);
        assert_eq!(t.judge(95.0), Health::Down);
    }

    #[tokio::test]
    async fn every_metric_reads_this_host() {
        let lenient = Thresholds {
            degraded: 1e9,
            down: 1e9,
        };
        for metric in [
            HostMetric::Cpu,
            HostMetric::Memory,
            HostMetric::Disk("/".into()),
            HostMetric::Load,
        ] {
            let outcome = HostProbe::new(metric.clone(), lenient).run().await;
            assert_eq!(outcome.health, Health::Up, "{metric:?}: {}", outcome.detail);
            assert!(!outcome.detail.is_empty());
        }
    }

    #[tokio::test]
    async fn a_path_on_no_filesystem_is_down_with_a_reason() {
        let lenient = Thresholds {
            degraded: 1e9,
            down: 1e9,
        };
        let outcome = HostProbe::new(HostMetric::Disk("relative/path".into()), lenient)
            .run()
            .await;
        assert_eq!(outcome.health, Health::Down);
        assert!(
            outcome.detail.contains("relative/path"),
            "{}",
            outcome.detail
        );
    }
}
