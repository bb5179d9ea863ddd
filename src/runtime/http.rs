//! The operations endpoints on `--metrics-addr`: `/livez`, `/readyz` and `/metrics`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::warn;

use crate::metrics::{self, Metrics};

/// What `/readyz` reports: whether the process can do its work. Ready once every watch
/// has synced, and (with leader election) the process leads or stands by in good health;
/// with sharding, also only while it reaches the shard Leases (without them it holds no
/// shard and reconciles nothing).
#[derive(Clone, Default)]
pub struct Health {
    watches_synced: Arc<AtomicBool>,
    healthy_standby: Arc<AtomicBool>,
    needs_leases: Arc<AtomicBool>,
    leases_reachable: Arc<AtomicBool>,
}

impl Health {
    pub fn set_watches_synced(&self) {
        self.watches_synced.store(true, Ordering::SeqCst);
    }

    /// A standby that can reach its Lease is ready to take over.
    pub fn set_healthy_standby(&self, healthy: bool) {
        self.healthy_standby.store(healthy, Ordering::SeqCst);
    }

    /// Sharded: ready only while the shard Leases answer ([`Health::set_leases_reachable`]).
    pub fn needs_shard_leases(&self) {
        self.needs_leases.store(true, Ordering::SeqCst);
    }

    pub fn set_leases_reachable(&self, reachable: bool) {
        self.leases_reachable.store(reachable, Ordering::SeqCst);
    }

    pub fn ready(&self) -> bool {
        let working = self.watches_synced.load(Ordering::SeqCst)
            || self.healthy_standby.load(Ordering::SeqCst);
        let leases = !self.needs_leases.load(Ordering::SeqCst)
            || self.leases_reachable.load(Ordering::SeqCst);
        working && leases
    }
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

/// The response to one request (`accept`: its Accept header). Pure, so it is tested
/// without a socket. `/metrics` answers OpenMetrics to scrapers that ask for it (Prometheus
/// does) and the classic text format to everything else.
pub fn route(
    path: &str,
    accept: Option<&str>,
    health: &Health,
    metrics: &Metrics,
) -> Response<Full<Bytes>> {
    match path {
        "/livez" => respond(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" if health.ready() => respond(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "watches not synced yet\n".into(),
        ),
        "/metrics" if accept.is_some_and(|a| a.contains("application/openmetrics-text")) => {
            respond(StatusCode::OK, metrics::OPENMETRICS, metrics.render())
        }
        "/metrics" => respond(
            StatusCode::OK,
            metrics::CLASSIC_TEXT,
            metrics.render_classic(),
        ),
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

/// Binds `address` and serves until the process ends.
pub async fn serve(address: SocketAddr, health: Health, metrics: Metrics) -> std::io::Result<()> {
    let listener = TcpListener::bind(address).await?;
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    warn!(%error, "accepting a connection on the metrics address");
                    continue;
                }
            };
            let (health, metrics) = (health.clone(), metrics.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let accept = request
                        .headers()
                        .get(hyper::header::ACCEPT)
                        .and_then(|value| value.to_str().ok());
                    let response = route(request.uri().path(), accept, &health, &metrics);
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_watches_and_liveness_is_always_ok() {
        let health = Health::default();
        let metrics = Metrics::default();
        assert_eq!(
            route("/livez", None, &health, &metrics).status(),
            StatusCode::OK
        );
        assert_eq!(
            route("/readyz", None, &health, &metrics).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        health.set_watches_synced();
        assert_eq!(
            route("/readyz", None, &health, &metrics).status(),
            StatusCode::OK
        );
        assert_eq!(
            route("/nope", None, &health, &metrics).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn a_sharded_replica_is_ready_only_while_it_reaches_the_shard_leases() {
        let health = Health::default();
        health.needs_shard_leases();
        health.set_watches_synced();
        assert!(!health.ready(), "no Lease reached yet: no shard, no work");
        health.set_leases_reachable(true);
        assert!(health.ready());
        health.set_leases_reachable(false);
        assert!(
            !health.ready(),
            "Leases unreachable (RBAC, API server): not ready"
        );
    }

    #[test]
    fn metrics_are_openmetrics_only_for_scrapers_that_ask() {
        let (health, metrics) = (Health::default(), Metrics::default());
        let content_type = |accept| {
            route("/metrics", accept, &health, &metrics).headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string()
        };
        // What Prometheus sends.
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1";
        assert_eq!(content_type(Some(prometheus)), metrics::OPENMETRICS);
        assert_eq!(content_type(None), metrics::CLASSIC_TEXT);
        assert_eq!(content_type(Some("*/*")), metrics::CLASSIC_TEXT);
    }

    #[tokio::test]
    async fn serves_metrics_over_http() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let metrics = Metrics::default();
        metrics.count_reconcile("DaemonService", "success");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        serve(address, Health::default(), metrics).await.unwrap();
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response
                .contains("ecsfleet_reconcile_total{kind=\"DaemonService\",result=\"success\"} 1"),
            "{response}"
        );
    }
}
