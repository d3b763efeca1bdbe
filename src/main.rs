//! The `chatnode` binary: serve (the default), and the admin commands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use chatnode::config::Settings;

/// A self-hosted instant-messaging node.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML file layered over config/default.toml (the environment still wins).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve HTTP and WebSocket (what running with no command does).
    Serve,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chatnode: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let outcome = match cli.command.unwrap_or(Cmd::Serve) {
        Cmd::Serve => serve(settings),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatnode: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> Result<(), chatnode::error::Error> {
    actix_web::rt::System::new().block_on(async move {
        let tls = !settings.tls.cert.is_empty();
        let running = chatnode::server::start(settings).await?;
        let scheme = if tls { "https" } else { "http" };
        tracing::info!("chatnode listening on {scheme}://{}", running.addr);
        println!("chatnode listening on {scheme}://{}", running.addr);
        wait_for_signal().await;
        tracing::info!("shutting down");
        running.shutdown().await
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
