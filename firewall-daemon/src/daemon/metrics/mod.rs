//! The Prometheus endpoint (`--metrics-listen ADDR`, off by default): `GET /metrics` and
//! `HEAD /metrics` over HTTP/1.1, served by hyper, in the text format the scraper's `Accept`
//! header asks for (OpenMetrics or the Prometheus text format, [`exposition`]); 404 for other
//! paths, 405 for other methods. What is in it: [`registry`].
//!
//! A crowd of clients or a slow one cannot wear the daemon down ([`Limits`]): connections are
//! capped (beyond the cap a client gets 503 and is closed), the request head must arrive
//! within a time (slowloris) and fit in a size (431 beyond it), and a whole exchange is
//! bounded in time. One request per connection, as a scrape needs no more.

mod exposition;
mod registry;

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, Result};
use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    body::{Bytes, Incoming},
    header::{self, HeaderValue},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::{TokioIo, TokioTimer};
pub use registry::ReloadStats;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tracing::{debug, info};

use self::exposition::Format;
use super::{
    State,
    accept::{Backoff, REQUEST_TIMEOUT, Slots},
    lock,
};

/// Binds the endpoint; serving starts with [`serve`].
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for Prometheus scrapes on {addr}"))?;
    info!(%addr, "Prometheus metrics at http://{addr}/metrics");
    Ok(listener)
}

/// What the endpoint allows a client.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once; beyond it a client gets 503 at once.
    pub max_connections: usize,
    /// Time to send the whole request head after connecting (slowloris).
    pub head_timeout: Duration,
    /// Bytes of the request head (request line and headers); 431 beyond it. At least 8 KiB
    /// (hyper's smallest read buffer).
    pub max_head_bytes: usize,
    /// Header lines of the request head; 431 beyond it.
    pub max_headers: usize,
    /// Time a whole exchange may take, the answer included (a client that reads slowly).
    pub exchange_timeout: Duration,
}

/// What the daemon's endpoint allows.
pub const LIMITS: Limits = Limits {
    max_connections: 64,
    head_timeout: REQUEST_TIMEOUT,
    max_head_bytes: 8192,
    max_headers: 64,
    exchange_timeout: Duration::from_secs(30),
};

/// Serves scrapes of `state` on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, state: Arc<Mutex<State>>) {
    let conntrack = registry::ConntrackCount::default();
    let render = move || {
        // Read under the state lock, encoded after it.
        let scrape = registry::Scrape::gather(&mut lock(&state), &conntrack)?;
        scrape.encode()
    };
    serve_with(listener, LIMITS, Arc::new(render)).await;
}

/// Makes the metrics text (OpenMetrics) of a scrape.
type Render = Arc<dyn Fn() -> Result<String> + Send + Sync>;

async fn serve_with(listener: TcpListener, limits: Limits, render: Render) {
    let slots = Slots::new(limits.max_connections);
    let mut backoff = Backoff::new("metrics");
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192))
        .max_header_size(limits.max_head_bytes)
        .max_headers(limits.max_headers)
        .keep_alive(false);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                backoff.failed(&err).await;
                continue;
            }
        };
        let Some(slot) = slots.take() else {
            tokio::spawn(refuse_busy(stream));
            continue;
        };
        debug!(%peer, "metrics scrape");
        let render = render.clone();
        let connection = http.serve_connection(
            TokioIo::new(stream),
            service_fn(move |request| {
                let response = answer(&request, &render);
                async move { Ok::<_, Infallible>(response) }
            }),
        );
        tokio::spawn(async move {
            match tokio::time::timeout(limits.exchange_timeout, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => debug!(%peer, error = %err, "metrics connection failed"),
                Err(_) => debug!(%peer, "metrics connection took too long; closed"),
            }
            drop(slot);
        });
    }
}

/// Tells a client beyond the connection cap that the endpoint is busy. It gets no slot, so
/// no HTTP parser either: one fixed answer, then its request is read and dropped (briefly), so
/// that closing does not reset the connection before the answer is read.
async fn refuse_busy(mut stream: TcpStream) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; \
        charset=utf-8\r\nContent-Length: 5\r\nRetry-After: 1\r\nConnection: close\r\n\r\nbusy\n";
    let refuse = async {
        stream.write_all(BUSY).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), refuse).await;
}

/// The answer to one request.
fn answer(request: &Request<Incoming>, render: &Render) -> Response<Full<Bytes>> {
    if request.uri().path() != "/metrics" {
        return text(StatusCode::NOT_FOUND, "zcfw serves /metrics\n".into());
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET or HEAD /metrics\n".into(),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let accept: Vec<&str> = request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let format = Format::negotiate((!accept.is_empty()).then(|| accept.join(",")).as_deref());
    // HEAD is answered like GET (same headers, Content-Length included); hyper sends no body.
    match render() {
        Ok(openmetrics) => {
            let mut response = Response::new(Full::new(Bytes::from(format.encode(openmetrics))));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            headers.insert(header::VARY, HeaderValue::from_static("Accept"));
            response
        }
        Err(err) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read counters: {err:#}\n"),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    const OPENMETRICS: &str = "# HELP zcfw_packets Packets\n# TYPE zcfw_packets counter\n\
                               zcfw_packets_total{reason=\"default_deny\"} 3\n# EOF\n";

    /// An endpoint on a free loopback port serving [`OPENMETRICS`].
    async fn endpoint(limits: Limits) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(serve_with(
            listener,
            limits,
            Arc::new(|| Ok(OPENMETRICS.to_owned())),
        ));
        addr
    }

    /// Sends `request` as is and reads the answer to the end (or to a reset).
    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request).await.expect("send");
        read_all(&mut stream).await
    }

    async fn read_all(stream: &mut TcpStream) -> String {
        let mut raw = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw));
        match read.await {
            Ok(Ok(_)) | Ok(Err(_)) => String::from_utf8_lossy(&raw).into_owned(),
            Err(_) => panic!("no end of the answer within 10 s: {raw:?}"),
        }
    }

    fn get(path: &str, accept: Option<&str>) -> Vec<u8> {
        let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{accept}\r\n").into_bytes()
    }

    fn status(answer: &str) -> u16 {
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {answer:?}"))
    }

    fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
        let head = answer.split("\r\n\r\n").next()?;
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn body(answer: &str) -> &str {
        answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    #[tokio::test]
    async fn get_negotiates_the_format() {
        let addr = endpoint(LIMITS).await;
        let om = exchange(
            addr,
            &get(
                "/metrics",
                Some("application/openmetrics-text;version=1.0.0"),
            ),
        )
        .await;
        assert_eq!(status(&om), 200, "{om}");
        assert_eq!(
            header(&om, "content-type"),
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
        );
        assert_eq!(body(&om), OPENMETRICS);
        assert_eq!(header(&om, "vary"), Some("Accept"));

        for accept in [None, Some("text/plain;version=0.0.4"), Some("*/*")] {
            let text = exchange(addr, &get("/metrics?x=1", accept)).await;
            assert_eq!(status(&text), 200, "{text}");
            assert_eq!(
                header(&text, "content-type"),
                Some("text/plain; version=0.0.4; charset=utf-8"),
                "Accept: {accept:?}"
            );
            assert_eq!(
                body(&text),
                "# HELP zcfw_packets_total Packets\n# TYPE zcfw_packets_total counter\n\
                 zcfw_packets_total{reason=\"default_deny\"} 3\n"
            );
        }
    }

    #[tokio::test]
    async fn head_has_the_headers_of_get_and_no_body() {
        let addr = endpoint(LIMITS).await;
        let got = exchange(addr, &get("/metrics", Some("application/openmetrics-text"))).await;
        let head = exchange(
            addr,
            b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text\r\n\r\n",
        )
        .await;
        assert_eq!(status(&head), 200, "{head}");
        assert_eq!(body(&head), "");
        assert_eq!(
            header(&head, "content-length"),
            Some(OPENMETRICS.len().to_string().as_str())
        );
        assert_eq!(
            header(&head, "content-length"),
            header(&got, "content-length")
        );
        assert_eq!(header(&head, "content-type"), header(&got, "content-type"));
    }

    #[tokio::test]
    async fn other_paths_and_methods() {
        let addr = endpoint(LIMITS).await;
        let missing = exchange(addr, &get("/", None)).await;
        assert_eq!(status(&missing), 404, "{missing}");
        let post = exchange(
            addr,
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert_eq!(status(&post), 405, "{post}");
        assert_eq!(header(&post, "allow"), Some("GET, HEAD"));
        let garbage = exchange(addr, b"\x16\x03\x01 not http\r\n\r\n").await;
        assert_eq!(status(&garbage), 400, "{garbage}");
    }

    #[tokio::test]
    async fn oversized_heads_are_refused() {
        let addr = endpoint(LIMITS).await;
        let long = format!(
            "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(LIMITS.max_head_bytes)
        );
        let answer = exchange(addr, long.as_bytes()).await;
        assert_eq!(status(&answer), 431, "{answer}");
        let many: String = (0..=LIMITS.max_headers)
            .map(|i| format!("X-{i}: 1\r\n"))
            .collect();
        let answer = exchange(
            addr,
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
        )
        .await;
        assert_eq!(status(&answer), 431, "{answer}");
    }

    #[tokio::test]
    async fn silent_clients_are_dropped_and_the_cap_answers_busy() {
        let limits = Limits {
            max_connections: 1,
            head_timeout: Duration::from_millis(500),
            ..LIMITS
        };
        let addr = endpoint(limits).await;
        // A slowloris client: connects, sends half a request head, then nothing.
        let mut silent = TcpStream::connect(addr).await.expect("connect");
        silent
            .write_all(b"GET /metrics HTTP/1.1\r\nHost:")
            .await
            .expect("send");
        let connected = Instant::now();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // It holds the only slot: the next client is told so.
        let busy = exchange(addr, &get("/metrics", None)).await;
        assert_eq!(status(&busy), 503, "{busy}");
        assert_eq!(header(&busy, "retry-after"), Some("1"));
        // The silent one is cut off after the head timeout, with no answer...
        let cut = read_all(&mut silent).await;
        let waited = connected.elapsed();
        assert!(
            waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
            "cut after {waited:?}"
        );
        assert!(!cut.contains("200 OK"), "{cut}");
        // ... and its slot serves the next scrape.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let served = exchange(addr, &get("/metrics", None)).await;
        assert_eq!(status(&served), 200, "{served}");
    }
}
