//! `acr`: a command-line tool for Azure Container Registry and OCI distribution
//! registries, built on the `acr` crate. `acr --help` describes the commands.

mod cli;
mod client;
mod commands;
mod docker_config;
mod error;
mod files;
mod layout;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use crate::cli::{Cli, Command};
use crate::error::{CliError, CliResult};
use crate::layout::ImageReference;
use crate::output::Output;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(registry) = cli.global.registry.clone() else {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "no registry: give --registry or set ACR_REGISTRY",
            )
            .exit()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("acr: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        // Listening before the command starts, so that no signal falls in between.
        let interrupted = interrupted();
        tokio::select! {
            outcome = Box::pin(run(cli, &registry)) => Ok(outcome),
            signal = interrupted => Err(signal),
        }
    });
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("acr: error: {error}");
            error.exit_code()
        }
        Err(signal) => {
            // The command's future is gone and with it its open files; this covers any
            // still held elsewhere.
            files::remove_pending();
            eprintln!("acr: interrupted");
            // The shell's convention: 128 plus the signal number.
            ExitCode::from(128 + signal)
        }
    }
}

/// Starts listening for SIGINT and SIGTERM; the future resolves with the number of the
/// first to arrive.
fn interrupted() -> impl std::future::Future<Output = u8> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let signals = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        );
        async move {
            let (Ok(mut interrupt), Ok(mut terminate)) = signals else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = interrupt.recv() => 2,
                _ = terminate.recv() => 15,
            }
        }
    }
    #[cfg(not(unix))]
    {
        // ctrl_c registers on first poll; select! polls it before the command does I/O.
        async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => 2,
                Err(_) => std::future::pending().await,
            }
        }
    }
}

async fn run(cli: Cli, registry: &str) -> CliResult<()> {
    let out = Output {
        format: cli.global.output,
    };
    if let Command::Logout = cli.command {
        return commands::logout(out, registry);
    }
    if let Command::Login = cli.command
        && !client::has_sign_in_credential(&cli.global)
    {
        return Err(CliError::Usage(
            "acr login needs a credential: --username with ACR_PASSWORD, or a service \
             principal in AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
                .into(),
        ));
    }
    let client = client::build(&cli.global, registry)?;
    match cli.command {
        Command::Login => commands::login(&client, out, &cli.global, registry).await,
        Command::Logout => unreachable!("handled above"),
        Command::Repo(command) => commands::repo(&client, out, command).await,
        Command::Tag(command) => commands::tag(&client, out, command).await,
        Command::Manifest(command) => commands::manifest(&client, out, command).await,
        Command::Blob(command) => commands::blob(&client, out, command).await,
        Command::Referrers {
            repository,
            digest,
            artifact_type,
        } => {
            commands::referrers(&client, out, &repository, &digest, artifact_type.as_deref()).await
        }
        Command::Push {
            reference,
            directory,
        } => {
            let image = ImageReference::parse(&reference)?;
            Box::pin(layout::push(&client, out, &image, &directory)).await
        }
        Command::Pull {
            reference,
            directory,
            platform,
        } => {
            let image = ImageReference::parse(&reference)?;
            let platform = platform.as_deref().map(layout::Wanted::parse).transpose()?;
            Box::pin(layout::pull(
                &client,
                out,
                &image,
                &directory,
                platform.as_ref(),
            ))
            .await
        }
    }
}
