//! The `chatnode` binary: serve (the default), and the admin commands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use chatnode::admin::users::{self, OpError, UserOp};
use chatnode::admin::{commands, AdminError};
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
    /// Verify the store in server.data_dir; exits 1 if anything is wrong. With the node
    /// running, a consistent snapshot of it is checked (rebuilt under data_dir, then removed).
    Check,
    /// Repair a stopped store: what the start-up check repairs, and every member's
    /// unread count recounted where it disagrees with its read position.
    Repair,
    /// Rebuild the search index (data_dir/search) from a stopped store; the node also
    /// does this by itself when the index is missing, damaged or stale.
    Reindex,
    /// Write a consistent backup of the store and its media into FILE; works while the
    /// node runs (through data_dir/admin.sock) and when it does not.
    Backup {
        /// The backup file to write (FILE.tmp first, then renamed).
        file: PathBuf,
    },
    /// Rebuild a store (and its media) from a backup FILE into an empty data dir.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Where to rebuild; must be empty or missing (default: server.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Manage accounts, on a running node (through data_dir/admin.sock) or a stopped
    /// one. Exit codes: 0 done, 1 failed, 2 bad input, 3 no such user, 4 name taken,
    /// 5 refused (the node's last admin).
    User {
        #[command(subcommand)]
        command: UserCmd,
    },
    /// Settings: `config default` prints the commented defaults, the start of a
    /// --config file (e.g. /etc/chatnode/chatnode.toml).
    Config {
        #[command(subcommand)]
        command: ConfigCmd,
    },
    /// Make invites for registration on a closed node (see `user` for exit codes).
    Invite {
        #[command(subcommand)]
        command: InviteCmd,
    },
    /// Write a self-signed certificate for a LAN node: DIR/cert.pem and DIR/key.pem.
    Cert {
        /// Make a self-signed certificate (the only kind this command makes).
        #[arg(long, required = true)]
        self_signed: bool,
        /// Host names or IP addresses clients will use (repeatable).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Where to write the two files.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create an account; without --password-stdin a generated password is printed once.
    Add {
        /// Username (1-32 of a-z 0-9 _ . -).
        name: String,
        /// Make it an admin.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (its sessions end); without --password-stdin one is
    /// generated and printed once.
    Passwd {
        /// Username.
        name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account: it cannot log in, its sessions end.
    Disable {
        /// Username.
        name: String,
    },
    /// Enable a disabled account.
    Enable {
        /// Username.
        name: String,
    },
    /// Delete an account: it leaves its groups, its messages stay, its name stays taken.
    Delete {
        /// Username.
        name: String,
    },
    /// Make an account an admin (e.g. on a store from before roles existed).
    Promote {
        /// Username.
        name: String,
    },
    /// Make an admin a member again (the node's last admin stays one).
    Demote {
        /// Username.
        name: String,
    },
    /// List the accounts as a table.
    List,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print the compiled-in default settings, with their comments, as TOML.
    Default,
}

#[derive(Subcommand)]
enum InviteCmd {
    /// Make an invite; prints its code and URL.
    Create {
        /// Registrations it admits.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Lifetime in seconds (default 7 days).
        #[arg(long, default_value_t = 604_800)]
        ttl: u64,
    },
}

/// The password of `user add` / `user passwd`: from stdin, or generated (printed once).
fn password_for(from_stdin: bool) -> Result<(String, bool), OpError> {
    if from_stdin {
        users::password_from_stdin().map(|p| (p, false))
    } else {
        Ok((chatnode::auth::generate_password(), true))
    }
}

/// `chatnode user ...` / `chatnode invite ...`: the exit code.
fn account_command(settings: &Settings, op: Result<(UserOp, Option<String>), OpError>) -> u8 {
    let outcome = op.and_then(|(op, generated)| {
        users::run(settings, op)?;
        if let Some(password) = generated {
            println!("password: {password}");
            println!("(shown once: give it to the user, who can change it)");
        }
        Ok(())
    });
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("chatnode: {}", e.message);
            e.kind.code()
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(Cmd::Config {
        command: ConfigCmd::Default,
    }) = cli.command
    {
        // no settings needed: this is what one starts a config file from
        print!("{}", chatnode::config::DEFAULT_TOML);
        return std::process::ExitCode::SUCCESS;
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chatnode: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    chatnode::logging::init(settings.log.format);
    let command = cli.command.unwrap_or(Cmd::Serve);
    let account_op = match &command {
        Cmd::User { command } => Some(match command {
            UserCmd::Add {
                name,
                admin,
                password_stdin,
            } => password_for(*password_stdin).map(|(password, generated)| {
                let shown = generated.then(|| password.clone());
                (
                    UserOp::UserAdd {
                        name: name.clone(),
                        password,
                        admin: *admin,
                    },
                    shown,
                )
            }),
            UserCmd::Passwd {
                name,
                password_stdin,
            } => password_for(*password_stdin).map(|(password, generated)| {
                let shown = generated.then(|| password.clone());
                (
                    UserOp::UserPasswd {
                        name: name.clone(),
                        password,
                    },
                    shown,
                )
            }),
            UserCmd::Disable { name } => Ok((UserOp::UserDisable { name: name.clone() }, None)),
            UserCmd::Enable { name } => Ok((UserOp::UserEnable { name: name.clone() }, None)),
            UserCmd::Delete { name } => Ok((UserOp::UserDelete { name: name.clone() }, None)),
            UserCmd::Promote { name } => Ok((
                UserOp::UserAdmin {
                    name: name.clone(),
                    admin: true,
                },
                None,
            )),
            UserCmd::Demote { name } => Ok((
                UserOp::UserAdmin {
                    name: name.clone(),
                    admin: false,
                },
                None,
            )),
            UserCmd::List => Ok((UserOp::UserList, None)),
        }),
        Cmd::Invite {
            command: InviteCmd::Create { uses, ttl },
        } => Some(Ok((
            UserOp::InviteCreate {
                uses: *uses,
                ttl_secs: *ttl,
            },
            None,
        ))),
        _ => None,
    };
    if let Some(op) = account_op {
        return std::process::ExitCode::from(account_command(&settings, op));
    }
    let outcome = match command {
        Cmd::Serve => serve(settings).map(|()| true).map_err(AdminError::from),
        Cmd::Check => commands::check(&settings),
        Cmd::Repair => commands::repair(&settings),
        Cmd::Reindex => commands::reindex(&settings),
        Cmd::Backup { file } => commands::backup(&settings, &file).map(|_| true),
        Cmd::Restore { file, data_dir } => {
            let dir = data_dir.unwrap_or_else(|| settings.server.data_dir.clone());
            commands::restore(&settings, &file, &dir).map(|r| r.check_ok)
        }
        Cmd::Cert { hosts, out, .. } => write_cert(&hosts, &out).map_err(AdminError::from),
        Cmd::User { .. } | Cmd::Invite { .. } | Cmd::Config { .. } => Ok(true),
    };
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            // AdminError shows the detail that `Error::Internal` keeps from clients.
            eprintln!("chatnode: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `chatnode cert --self-signed --host NAME --out DIR`: writes the files and prints the
/// two settings that use them.
fn write_cert(hosts: &[String], out: &std::path::Path) -> Result<bool, chatnode::error::Error> {
    let files = chatnode::tls::write_self_signed(hosts, out)?;
    println!("wrote {} and {}", files.cert.display(), files.key.display());
    println!("use them with:");
    println!("  CHATNODE__TLS__CERT={}", files.cert.display());
    println!("  CHATNODE__TLS__KEY={}", files.key.display());
    println!("(or cert = \"...\" and key = \"...\" under [tls] in a --config file)");
    Ok(true)
}

fn serve(settings: Settings) -> Result<(), chatnode::error::Error> {
    actix_web::rt::System::new().block_on(async move {
        let tls = !settings.tls.cert.is_empty();
        let running = chatnode::server::start(settings).await?;
        chatnode::memory::start_trimming();
        let scheme = if tls { "https" } else { "http" };
        tracing::info!("chatnode listening on {scheme}://{}", running.addr);
        println!("chatnode listening on {scheme}://{}", running.addr);
        wait_for_signal(&running).await;
        tracing::info!("shutting down");
        running.shutdown().await
    })
}

/// Waits for SIGTERM or Ctrl-C; a SIGHUP on the way reloads the TLS certificate (as
/// nginx does), so `systemctl reload` or a renewal hook need no restart.
async fn wait_for_signal(running: &chatnode::server::Running) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = term.recv() => return,
            _ = hup.recv() => match running.reload_tls() {
                Ok(true) => tracing::info!("tls certificate reloaded"),
                Ok(false) => tracing::info!("SIGHUP: TLS is off, nothing to reload"),
                Err(e) => tracing::error!(
                    error = %e,
                    "tls certificate not reloaded; the one in use stays"
                ),
            },
        }
    }
}
