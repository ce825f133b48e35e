//! Blob transfer throughput and memory, through the client, against a local registry.
//!
//! `cargo bench -p acr --bench transfer` starts a CNCF distribution registry
//! (`docker-registry`, as `.ci/run` installs it) in a child process on 127.0.0.1, or uses
//! the one at `ACR_BENCH_REGISTRY`, so that the figures measure this process, the client,
//! alone. It prints, for each blob size: upload and download MB/s, plain SHA-256 MB/s over
//! the same bytes, download / hash and download / plain-GET ratios, and the peak RSS of a
//! process that did nothing but that upload and download. `ACR_BENCH_SIZES_MIB` (default
//! `64,1024`) and `ACR_BENCH_CHUNKS_MIB` (default `0,8,16`; 0 is the client's defaults: one
//! streamed GET down, 4 MiB chunks up) choose what is measured; ranged rows run with one
//! and four ranges in flight.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acr::{BlobData, ContainerRegistryClient};
use sha2::Digest as _;

const MIB: u64 = 1024 * 1024;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too, with nothing to
    // measure.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    match std::env::var("ACR_BENCH_RUN") {
        Ok(run) => measure(&run),
        Err(_) => orchestrate(),
    }
}

/// Prepares the registry and the content, and measures each configuration in a process of
/// its own, so that each peak RSS is that configuration's alone.
fn orchestrate() {
    let list = |name: &str, default: &str| -> Vec<u64> {
        std::env::var(name)
            .unwrap_or_else(|_| default.into())
            .split(',')
            .map(|n| n.trim().parse().expect("a number of MiB"))
            .collect()
    };
    let sizes = list("ACR_BENCH_SIZES_MIB", "64,1024");
    // 0: the client's defaults, one streamed GET down and 4 MiB chunks up.
    let chunks = list("ACR_BENCH_CHUNKS_MIB", "0,8,16");

    let scratch = std::env::temp_dir().join(format!("acr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let (endpoint, _registry) = match std::env::var("ACR_BENCH_REGISTRY") {
        Ok(endpoint) => (endpoint, None),
        Err(_) => {
            let registry = Registry::start(&scratch.join("registry"));
            (registry.endpoint.clone(), Some(registry))
        }
    };
    println!("registry: {endpoint}");
    println!(
        "{:>8} {:>6} {:>5} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8} {:>9}",
        "size",
        "chunk",
        "conc",
        "upload",
        "download",
        "raw GET",
        "sha256",
        "dl/hash",
        "dl/raw",
        "peak RSS"
    );
    for size in sizes {
        let file = scratch.join(format!("blob-{size}"));
        write_content(&file, size * MIB);
        let hash_rate = hash_rate(&file);
        for &chunk in &chunks {
            let concurrencies: &[usize] = if chunk == 0 { &[1] } else { &[1, 4] };
            for &concurrency in concurrencies {
                let run = format!(
                    "{endpoint}|{}|{size}|{chunk}|{concurrency}|{hash_rate}",
                    file.display()
                );
                let status = Command::new(std::env::current_exe().unwrap())
                    .env("ACR_BENCH_RUN", run)
                    .status()
                    .unwrap();
                assert!(status.success());
            }
        }
        std::fs::remove_file(&file).unwrap();
    }
    std::fs::remove_dir_all(&scratch).ok();
}

/// Uploads and downloads one blob with one configuration, and prints a row.
fn measure(run: &str) {
    let fields: Vec<&str> = run.split('|').collect();
    let [endpoint, file, size, chunk, concurrency, hash_rate] = fields[..] else {
        panic!("ACR_BENCH_RUN: {run}")
    };
    let size: u64 = size.parse().unwrap();
    let chunk: u64 = chunk.parse().unwrap();
    let concurrency: usize = concurrency.parse().unwrap();
    let hash_rate: f64 = hash_rate.parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = ContainerRegistryClient::builder(endpoint)
        .allow_http(true)
        .build()
        .unwrap();
    let chunk_size = (chunk * MIB) as usize;
    let (up, down, raw_get) = runtime.block_on(async {
        let started = Instant::now();
        let upload = client.upload_blob("bench/blobs", BlobData::file(file));
        let upload = if chunk == 0 {
            upload
        } else {
            upload.chunk_size(chunk_size)
        };
        let uploaded = upload.await.unwrap();
        let up = started.elapsed();
        // What the registry can serve: one plain GET, bytes discarded.
        let started = Instant::now();
        let url = format!("{endpoint}/v2/bench/blobs/blobs/{}", uploaded.digest);
        let mut response = reqwest::get(url).await.unwrap();
        while response.chunk().await.unwrap().is_some() {}
        let raw_get = started.elapsed();
        let started = Instant::now();
        let download = client.download_blob("bench/blobs", &uploaded.digest);
        let download = if chunk == 0 {
            download
        } else {
            download.chunk_size(chunk_size).concurrency(concurrency)
        };
        let received = download
            .await
            .unwrap()
            .write_to(&mut tokio::io::sink())
            .await
            .unwrap();
        assert_eq!(received, size * MIB);
        let down = started.elapsed();
        client
            .delete_blob("bench/blobs", &uploaded.digest)
            .await
            .unwrap();
        (up, down, raw_get)
    });
    let download_rate = rate(size * MIB, down);
    let raw_rate = rate(size * MIB, raw_get);
    let chunk = if chunk == 0 {
        "dflt".to_owned()
    } else {
        format!("{chunk}MiB")
    };
    println!(
        "{:>5}MiB {:>6} {:>5} {:>6.0}MB/s {:>6.0}MB/s {:>6.0}MB/s {:>6.0}MB/s {:>8.2} {:>8.2} {:>6.1}MiB",
        size,
        chunk,
        concurrency,
        rate(size * MIB, up),
        download_rate,
        raw_rate,
        hash_rate,
        download_rate / hash_rate,
        download_rate / raw_rate,
        peak_rss() as f64 / MIB as f64,
    );
    std::io::stdout().flush().unwrap();
}

fn rate(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

/// Deterministic content that does not compress.
fn write_content(path: &Path, len: u64) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; MIB as usize];
    for _ in 0..len / MIB {
        for word in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&block).unwrap();
    }
    file.flush().unwrap();
}

/// MB/s of SHA-256 alone over the file's bytes, read as the download would hand them.
fn hash_rate(path: &Path) -> f64 {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).unwrap();
    let mut buffer = vec![0u8; 8 * MIB as usize];
    let mut hasher = sha2::Sha256::new();
    let started = Instant::now();
    let mut total = 0;
    loop {
        let n = file.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
    std::hint::black_box(hasher.finalize());
    rate(total, started.elapsed())
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

fn peak_rss() -> u64 {
    status_kib("VmHWM:") * 1024
}

/// A distribution registry in a child process.
struct Registry {
    child: Child,
    endpoint: String,
}

impl Registry {
    fn start(dir: &PathBuf) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("storage").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry), or set ACR_BENCH_REGISTRY");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
