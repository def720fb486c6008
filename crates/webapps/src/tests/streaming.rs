//! Bodies stream both ways, every byte is counted, and a stop cuts them at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::fixtures::{CHUNK, Fnv, Gateway, Httpbin, Target, pattern_chunk, upstream};
use crate::Outcome;

async fn hash_of(response: reqwest::Response) -> (u64, u64) {
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let (mut len, mut hash) = (0u64, Fnv::default());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("chunk");
        len += chunk.len() as u64;
        hash.update(&chunk);
    }
    (len, hash.0)
}

#[tokio::test]
async fn streamed_download_is_the_targets_byte_for_byte() {
    let httpbin = Httpbin::start().await;
    let gateway = Gateway::start(httpbin.upstream()).await;
    // httpbin caps the size at 100 KiB and sends it chunked; the seed fixes the bytes.
    let path = "/stream-bytes/10000000?seed=7&chunk_size=4096";

    let direct_client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let direct = hash_of(
        direct_client
            .get(httpbin.url(path))
            .send()
            .await
            .expect("direct"),
    )
    .await;
    let proxied = hash_of(
        gateway
            .browser()
            .get(gateway.url(path))
            .send()
            .await
            .expect("proxied"),
    )
    .await;

    assert_eq!(proxied, direct);
    let log = &gateway.meter.logs(1).await[0];
    assert_eq!(
        (log.status, log.outcome, log.bytes_out),
        (200, Outcome::Completed, direct.0)
    );
    assert_eq!(gateway.meter.to_client.load(Ordering::Relaxed), direct.0);
}

#[tokio::test]
async fn large_download_and_upload_stream_and_are_counted() {
    const SIZE: u64 = 50 * 1024 * 1024;
    let target = Target::start().await;
    let gateway = Gateway::start(upstream(&format!("http://{}", target.addr))).await;
    let browser = gateway.browser();

    let mut expected = Fnv::default();
    let chunks = SIZE.div_ceil(CHUNK as u64);
    for i in 0..chunks {
        expected.update(&pattern_chunk(i, CHUNK));
    }
    let download = browser
        .get(gateway.url(&format!("/bulk/{SIZE}")))
        .send()
        .await
        .expect("download");
    assert_eq!(hash_of(download).await, (SIZE, expected.0));

    let upload = futures_util::stream::iter(0..chunks)
        .map(|i| Ok::<_, std::io::Error>(pattern_chunk(i, CHUNK)));
    let answer = browser
        .post(gateway.url("/sink"))
        .body(reqwest::Body::wrap_stream(upload))
        .send()
        .await
        .expect("upload")
        .text()
        .await
        .expect("text");
    assert_eq!(answer, format!("{SIZE} {:x}", expected.0));

    let logs = gateway.meter.logs(2).await;
    assert_eq!((logs[0].bytes_in, logs[0].bytes_out), (0, SIZE));
    assert_eq!(logs[1].method, "POST");
    assert_eq!(logs[1].bytes_in, SIZE);
    assert_eq!(gateway.meter.from_client.load(Ordering::Relaxed), SIZE);
}

#[tokio::test]
async fn sequential_requests_reuse_one_pooled_target_connection() {
    let target = Target::start().await;
    let gateway = Gateway::start(upstream(&format!("http://{}", target.addr))).await;
    let browser = gateway.browser();

    for _ in 0..5 {
        let response = browser
            .get(gateway.url("/bulk/1000"))
            .send()
            .await
            .expect("request");
        assert_eq!(hash_of(response).await.0, 1000);
    }

    assert_eq!(target.connections.load(Ordering::Relaxed), 1);
    assert_eq!(gateway.meter.logs(5).await.len(), 5);
}

#[tokio::test]
async fn a_pooled_connection_the_target_closed_meanwhile_is_replaced_unnoticed() {
    // A target that answers one request per connection as keep-alive, then
    // closes the connection a moment later (as a target's idle timeout would).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    let target = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                let _ = tcp.write_all(answer).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            });
        }
    });
    let gateway = Gateway::start(upstream(&format!("http://{addr}"))).await;
    let browser = gateway.browser();

    for _ in 0..3 {
        let response = browser.get(gateway.url("/")).send().await.expect("request");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("body"), "ok");
        // The target closes the connection the answer came on.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Each request after the first found its pooled connection closed and
    // went on a new one, without an error.
    assert_eq!(accepted.load(Ordering::Relaxed), 3);
    let logs = gateway.meter.logs(3).await;
    assert!(
        logs.iter()
            .all(|l| l.status == 200 && l.outcome == Outcome::Completed)
    );
    target.abort();
}

#[tokio::test]
async fn stop_cuts_a_dripping_response_within_100ms() {
    let httpbin = Httpbin::start().await;
    let gateway = Gateway::start(httpbin.upstream()).await;

    let response = gateway
        .browser()
        .get(gateway.url("/drip?duration=10&numbytes=10&delay=0"))
        .send()
        .await
        .expect("headers");
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(3), body.next())
        .await
        .expect("a first byte within 3 s");
    assert!(matches!(first, Some(Ok(_))), "{first:?}");

    let cut_at = Instant::now();
    gateway.stop.cancel();
    let rest = tokio::time::timeout(Duration::from_secs(2), async {
        let mut outcome = Ok(());
        while let Some(chunk) = body.next().await {
            if let Err(e) = chunk {
                outcome = Err(e);
                break;
            }
        }
        outcome
    })
    .await
    .expect("the body ends after the stop");
    let took = cut_at.elapsed();

    assert!(rest.is_err(), "a cut body is an error, not an end");
    assert!(took < Duration::from_millis(100), "cut after {took:?}");
    let log = &gateway.meter.logs(1).await[0];
    assert_eq!(log.outcome, Outcome::Cut);
    assert!(log.bytes_out < 10, "{log:?}");
}

#[tokio::test]
async fn stop_before_the_headers_answers_at_once() {
    let httpbin = Httpbin::start().await;
    let gateway = Gateway::start(httpbin.upstream()).await;
    let stop = gateway.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
    });

    let started = Instant::now();
    let response = gateway
        .browser()
        .get(gateway.url("/delay/5"))
        .send()
        .await
        .expect("an answer");

    assert_eq!(response.status(), 503);
    assert_eq!(response.text().await.expect("text"), "session_stopped");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(gateway.meter.logs(1).await[0].outcome, Outcome::Cut);
}
