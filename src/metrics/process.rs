//! The `process_*` metrics every Prometheus client exports (CPU, memory, open files,
//! threads, start time), read from `/proc` at each scrape, named and typed as Go's and
//! Python's clients name them so that the usual dashboards and alerts work unchanged.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads the process's figures at each scrape; a figure `/proc` cannot give is left out.
#[derive(Debug)]
pub struct ProcessCollector;

/// The process's figures at one moment.
#[derive(Debug, Default, PartialEq)]
pub struct ProcessFigures {
    pub cpu_seconds: Option<f64>,
    pub resident_memory_bytes: Option<u64>,
    pub virtual_memory_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub threads: Option<u64>,
    pub start_time_seconds: Option<f64>,
}

impl ProcessFigures {
    #[cfg(target_os = "linux")]
    pub fn read() -> Self {
        use procfs::WithCurrentSystemInfo;
        let Ok(me) = procfs::process::Process::myself() else {
            return Self::default();
        };
        let ticks = procfs::ticks_per_second() as f64;
        let stat = me.stat().ok();
        ProcessFigures {
            cpu_seconds: stat.as_ref().map(|s| (s.utime + s.stime) as f64 / ticks),
            resident_memory_bytes: stat.as_ref().map(|s| s.rss_bytes().get()),
            virtual_memory_bytes: stat.as_ref().map(|s| s.vsize),
            open_fds: me.fd_count().ok().map(|n| n as u64),
            max_fds: me
                .limits()
                .ok()
                .and_then(|l| match l.max_open_files.soft_limit {
                    procfs::process::LimitValue::Value(n) => Some(n),
                    procfs::process::LimitValue::Unlimited => None,
                }),
            threads: stat.as_ref().map(|s| s.num_threads.max(0) as u64),
            // The start, in clock ticks since boot.
            start_time_seconds: stat.as_ref().and_then(|s| {
                let boot = procfs::boot_time_secs().ok()? as f64;
                Some(boot + s.starttime as f64 / ticks)
            }),
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn read() -> Self {
        Self::default()
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let figures = ProcessFigures::read();
        if let Some(seconds) = figures.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            counter.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                counter.metric_type(),
            )?)?;
        }
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                figures.resident_memory_bytes.map(|v| v as f64),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                figures.virtual_memory_bytes.map(|v| v as f64),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                figures.open_fds.map(|v| v as f64),
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                figures.max_fds.map(|v| v as f64),
            ),
            (
                "process_threads",
                "Number of OS threads in the process.",
                figures.threads.map(|v| v as f64),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                figures.start_time_seconds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                let gauge = ConstGauge::new(value);
                gauge.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    gauge.metric_type(),
                )?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn every_figure_is_read_from_proc() {
        let figures = ProcessFigures::read();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = figures.start_time_seconds.expect("start time");
        assert!(
            started <= now + 1.0 && started > now - 86_400.0 * 365.0,
            "{started}"
        );
        assert!(figures.resident_memory_bytes.expect("rss") > 0);
        assert!(
            figures.virtual_memory_bytes.expect("vsize") >= figures.resident_memory_bytes.unwrap()
        );
        assert!(
            figures.open_fds.expect("open fds") >= 3,
            "stdin, stdout, stderr at least"
        );
        assert!(figures.max_fds.expect("max fds") >= figures.open_fds.unwrap());
        assert!(figures.threads.expect("threads") >= 1);
        assert!(figures.cpu_seconds.expect("cpu") >= 0.0);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_metrics_carry_the_process_figures_under_their_usual_names() {
        let text = crate::metrics::Metrics::default().render();
        for line in [
            "# TYPE process_cpu_seconds counter",
            "# TYPE process_resident_memory_bytes gauge",
            "# TYPE process_open_fds gauge",
            "# TYPE process_max_fds gauge",
            "# TYPE process_start_time_seconds gauge",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
        assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
        let classic = crate::metrics::Metrics::default().render_classic();
        assert!(
            classic.contains("\nprocess_resident_memory_bytes "),
            "{classic}"
        );
    }
}
