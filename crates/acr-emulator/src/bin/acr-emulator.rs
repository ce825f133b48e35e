//! `acr-emulator`: runs the emulator (or, as `acr-emulator token-service`, a Docker token
//! service) until SIGINT or SIGTERM, after printing its URL.

use std::path::PathBuf;
use std::time::Duration;

use acr_emulator::{Emulator, Faults, Storage, TokenService};
use clap::{Parser, Subcommand};

/// A local Azure Container Registry compatible registry for tests.
#[derive(Parser)]
#[command(name = "acr-emulator", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    emulator: Args,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Docker token service (the `realm` of CNCF distribution's `auth: token`)
    /// instead of the registry; prints its realm URL.
    TokenService(TokenArgs),
}

/// The token service's options. No `Debug`: they hold passwords.
#[derive(clap::Args)]
struct TokenArgs {
    /// Port to bind on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The service tokens are for (the registry's auth.token.service).
    #[arg(long, default_value = "acr-emulator")]
    service: String,
    /// The tokens' issuer (the registry's auth.token.issuer).
    #[arg(long, default_value = "acr-emulator")]
    issuer: String,
    /// Write the signing certificate (PEM) here, for the registry's auth.token.rootcertbundle.
    #[arg(long)]
    cert_out: PathBuf,
    /// A user for Basic authentication and the password grant, as NAME:PASSWORD (repeatable).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// Grant callers without credentials pull on repositories.
    #[arg(long)]
    anonymous_pull: bool,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, default_value_t = 300)]
    lifetime_secs: u64,
}

/// The emulator's options. No `Debug`: they hold passwords.
#[derive(clap::Args)]
struct Args {
    /// Port to bind on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Serve HTTPS with a self-signed certificate generated at start.
    #[arg(long)]
    tls: bool,
    /// Write the self-signed certificate (PEM) here; needs --tls.
    #[arg(long, requires = "tls")]
    cert_out: Option<PathBuf>,
    /// Keep content in this directory instead of memory.
    #[arg(long)]
    storage_dir: Option<PathBuf>,
    /// Let callers without credentials pull.
    #[arg(long)]
    anonymous_pull: bool,
    /// A user for Basic authentication, as NAME:PASSWORD (repeatable).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// An AAD access token that /oauth2/exchange accepts (repeatable).
    #[arg(long = "aad-token", value_name = "TOKEN")]
    aad_tokens: Vec<String>,
    /// Append `METHOD PATH?QUERY STATUS` per request to this file.
    #[arg(long)]
    access_log: Option<PathBuf>,
    /// Lifetime of issued tokens, in seconds.
    #[arg(long, default_value_t = 3 * 3600)]
    token_lifetime_secs: u64,
    /// Seed of the fault-injection random sequence.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Chance (0..1) of answering 503.
    #[arg(long, default_value_t = 0.0)]
    fault_error_rate: f64,
    /// Chance (0..1) of answering 429 with Retry-After: 1.
    #[arg(long, default_value_t = 0.0)]
    fault_throttle_rate: f64,
    /// Chance (0..1) of dropping the connection halfway through a response body.
    #[arg(long, default_value_t = 0.0)]
    fault_reset_rate: f64,
    /// Chance (0..1) of silently sending only half of a response body.
    #[arg(long, default_value_t = 0.0)]
    fault_truncate_rate: f64,
    /// Chance (0..1) of flipping one byte of a blob download.
    #[arg(long, default_value_t = 0.0)]
    fault_flip_rate: f64,
    /// Delay before every response, in milliseconds.
    #[arg(long)]
    fault_delay_ms: Option<u64>,
    /// Apply faults to /oauth2/* too.
    #[arg(long)]
    fault_token_endpoints: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::TokenService(args)) => token_service(args).await,
        None => emulator(cli.emulator).await,
    }
}

/// `NAME:PASSWORD`; the message names the flag but never the password.
fn split_user(user: &str) -> Result<(&str, &str), String> {
    user.split_once(':')
        .ok_or_else(|| "--user takes NAME:PASSWORD (no ':' found)".to_string())
}

async fn until_stopped() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

async fn token_service(args: TokenArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = TokenService::builder()
        .port(args.port)
        .service(args.service)
        .issuer(args.issuer)
        .anonymous_pull(args.anonymous_pull)
        .lifetime(Duration::from_secs(args.lifetime_secs));
    for user in &args.users {
        let (name, password) = split_user(user)?;
        builder = builder.user(name, password);
    }
    let service = builder.start().await?;
    // Written before the realm is printed: a script that has read the realm can hand the
    // certificate to the registry at once.
    std::fs::write(&args.cert_out, service.cert_pem())?;
    println!("{}", service.realm());
    until_stopped().await?;
    service.shutdown().await;
    Ok(())
}

async fn emulator(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = Emulator::builder()
        .port(args.port)
        .tls(args.tls)
        .anonymous_pull(args.anonymous_pull)
        .token_lifetime(Duration::from_secs(args.token_lifetime_secs))
        .faults(Faults {
            seed: args.fault_seed,
            error_rate: args.fault_error_rate,
            throttle_rate: args.fault_throttle_rate,
            reset_mid_body_rate: args.fault_reset_rate,
            truncate_body_rate: args.fault_truncate_rate,
            flip_byte_rate: args.fault_flip_rate,
            delay: args.fault_delay_ms.map(Duration::from_millis),
            include_token_endpoints: args.fault_token_endpoints,
        });
    for user in &args.users {
        let (name, password) = split_user(user)?;
        builder = builder.user(name, password);
    }
    if !args.aad_tokens.is_empty() {
        let accepted = args.aad_tokens.clone();
        builder = builder.aad_check(move |token: &str| accepted.iter().any(|a| a == token));
    }
    if let Some(dir) = args.storage_dir {
        builder = builder.storage(Storage::Directory(dir));
    }
    if let Some(path) = args.access_log {
        builder = builder.access_log(path);
    }
    let emu = builder.start().await?;
    if let (Some(path), Some(pem)) = (&args.cert_out, emu.ca_cert_pem()) {
        std::fs::write(path, pem)?;
    }
    // The first stdout line is the endpoint, for scripts that start the emulator.
    println!("{}", emu.endpoint());

    until_stopped().await?;
    emu.shutdown().await;
    Ok(())
}
