//! `error-tracker`: list, inspect and manage the errors in a database file, or serve the web
//! dashboard for it, while the application keeps writing to it. See `docs/cli.md`.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use comfy_table::{ContentArrangement, LineStyle, Table, TableStyle};
use error_tracker::dashboard::{AllowAll, BasicAuth, BearerToken, Dashboard, LoopbackOnly};
use error_tracker::{
    ErrorGroup, ErrorSummary, ListQuery, Page, RedbStore, ResolvedIn, Status, Store, StoreError,
};
use serde_json::Value;
use time::OffsetDateTime;

/// Exit code for a failure (database missing, locked, unreadable...).
const EXIT_FAILURE: u8 = 1;
/// Exit code when the error asked for does not exist.
const EXIT_NOT_FOUND: u8 = 3;

#[derive(Parser)]
#[command(
    name = "error-tracker",
    version,
    about = "Look at and manage the errors an application stored with error-tracker."
)]
struct Cli {
    /// The database file (the application's `store.path`).
    #[arg(
        long,
        global = true,
        env = "ERROR_TRACKER_DB",
        default_value = "error_tracker.redb"
    )]
    db: PathBuf,
    /// Print JSON instead of tables and text, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List errors, most recently seen first.
    List(ListArgs),
    /// Show one error with its newest sample.
    Show {
        /// The error's fingerprint (as listed).
        fingerprint: String,
    },
    /// Mark an error resolved: a new occurrence reopens it as a regression.
    Resolve {
        /// The error's fingerprint.
        fingerprint: String,
        /// Fixed in this release: occurrences of older releases do not reopen it.
        #[arg(long, value_name = "RELEASE", conflicts_with = "in_next_release")]
        in_release: Option<String>,
        /// Fixed in the release after the newest one seen: only newer releases reopen it.
        #[arg(long)]
        in_next_release: bool,
    },
    /// Mark an error ignored: still counted, never notified.
    Ignore {
        /// The error's fingerprint.
        fingerprint: String,
    },
    /// Mark an error unresolved again.
    Reopen {
        /// The error's fingerprint.
        fingerprint: String,
    },
    /// Delete an error with its samples and counts.
    Delete {
        /// The error's fingerprint.
        fingerprint: String,
    },
    /// Delete every error not seen for a while.
    Purge {
        /// How long: `30d`, `12h`, `2weeks`, `90days`...
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: std::time::Duration,
    },
    /// Write every error with its samples.
    Export {
        /// The output format.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
    /// Serve the web dashboard for the database.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ListArgs {
    /// The page (from 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    page: u64,
    /// Errors per page.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    page_size: u64,
    /// Only errors with this status.
    #[arg(long, value_enum)]
    status: Option<StatusArg>,
    /// Only errors whose kind or message contains this text (case-insensitive).
    #[arg(long)]
    search: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Let in requests with `Authorization: Bearer TOKEN` (for scripts).
    #[arg(
        long,
        env = "ERROR_TRACKER_TOKEN",
        hide_env_values = true,
        group = "access"
    )]
    token: Option<String>,
    /// Let in a browser with this user name and password: `USER:PASSWORD`.
    #[arg(
        long,
        env = "ERROR_TRACKER_BASIC",
        hide_env_values = true,
        group = "access"
    )]
    basic: Option<String>,
    /// Let in every request (only behind something that checks who gets there).
    #[arg(long, group = "access")]
    allow_all: bool,
    /// Errors per page.
    #[arg(long, default_value_t = 10)]
    page_size: usize,
    /// The name in the page header, for instance the service's name.
    #[arg(long, default_value = "Errors")]
    title: String,
    /// A host name the dashboard answers for (repeatable), beside loopback names and the
    /// address it listens on; requests naming any other `Host` get 421.
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// A JSON array of errors, each with its samples.
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum StatusArg {
    Unresolved,
    Resolved,
    Ignored,
}

impl From<StatusArg> for Status {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::Unresolved => Status::Unresolved,
            StatusArg::Resolved => Status::Resolved,
            StatusArg::Ignored => Status::Ignored,
        }
    }
}

/// Columns aligned, one rule under the header, no other lines: dense and easy to scan.
const LIST_STYLE: TableStyle =
    TableStyle::new().header_separator(LineStyle::none().fill('─').junction('─'));

/// Why the command failed, with the exit code to use.
struct Failure {
    code: u8,
    message: String,
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        let hint = match &err {
            StoreError::Unavailable(_) => {
                " (a process holding the file exclusively, such as an application using \
                 `store.durability = \"eventual\"`, keeps other processes out)"
            }
            _ => "",
        };
        Failure {
            code: EXIT_FAILURE,
            message: format!("{err}{hint}"),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        // `error-tracker list | head`: the reader left, which is not a failure.
        let code = if err.kind() == io::ErrorKind::BrokenPipe {
            0
        } else {
            EXIT_FAILURE
        };
        Failure {
            code,
            message: err.to_string(),
        }
    }
}

fn not_found(fingerprint: &str) -> Failure {
    Failure {
        code: EXIT_NOT_FOUND,
        message: format!("no error with fingerprint {fingerprint:?}"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if failure.code == 0 => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Refuses a missing file up front: opening for writing would create an empty database.
fn existing(path: &Path) -> Result<(), Failure> {
    if path.is_file() {
        return Ok(());
    }
    Err(Failure {
        code: EXIT_FAILURE,
        message: format!(
            "no database at {}: give the application's database file with --db PATH or \
             ERROR_TRACKER_DB",
            path.display()
        ),
    })
}

fn open_read(path: &Path) -> Result<RedbStore, Failure> {
    existing(path)?;
    Ok(RedbStore::open_read_only(path)?)
}

fn open_write(path: &Path) -> Result<RedbStore, Failure> {
    existing(path)?;
    Ok(RedbStore::open(path)?)
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match &cli.command {
        Command::List(args) => {
            let store = open_read(&cli.db)?;
            let mut query = ListQuery::page(args.page as usize, args.page_size as usize);
            query.status = args.status.map(Status::from);
            query.search = args.search.clone();
            let page = store.list(&query)?;
            if cli.json {
                write_json(&mut out, &page)?;
            } else {
                print_list(&mut out, &page, args)?;
            }
        }
        Command::Show { fingerprint } => {
            let store = open_read(&cli.db)?;
            let group = store
                .get(fingerprint)?
                .ok_or_else(|| not_found(fingerprint))?;
            if cli.json {
                write_json(&mut out, &group)?;
            } else {
                print_group(&mut out, &group)?;
            }
        }
        Command::Resolve {
            fingerprint,
            in_release,
            in_next_release,
        } => {
            if in_release.is_some() || *in_next_release {
                resolve_in(cli, &mut out, fingerprint, in_release.clone())?
            } else {
                set_status(cli, &mut out, fingerprint, Status::Resolved)?
            }
        }
        Command::Ignore { fingerprint } => set_status(cli, &mut out, fingerprint, Status::Ignored)?,
        Command::Reopen { fingerprint } => {
            set_status(cli, &mut out, fingerprint, Status::Unresolved)?
        }
        Command::Delete { fingerprint } => {
            let store = open_write(&cli.db)?;
            if !store.delete(fingerprint)? {
                return Err(not_found(fingerprint));
            }
            if cli.json {
                write_json(
                    &mut out,
                    &serde_json::json!({"fingerprint": fingerprint, "deleted": true}),
                )?;
            } else {
                writeln!(out, "{fingerprint} deleted")?;
            }
        }
        Command::Purge { older_than } => {
            let store = open_write(&cli.db)?;
            let age = time::Duration::try_from(*older_than).map_err(|_| Failure {
                code: EXIT_FAILURE,
                message: format!("--older-than {older_than:?} is too long"),
            })?;
            let cutoff = OffsetDateTime::now_utc()
                .checked_sub(age)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            let deleted = store.purge(cutoff)?;
            if cli.json {
                write_json(
                    &mut out,
                    &serde_json::json!({"deleted": deleted, "before": cutoff.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()}),
                )?;
            } else {
                writeln!(
                    out,
                    "{deleted} error{} not seen since {} deleted",
                    if deleted == 1 { "" } else { "s" },
                    timestamp(cutoff)
                )?;
            }
        }
        Command::Export {
            format: Format::Json,
        } => {
            let store = open_read(&cli.db)?;
            export_json(&mut out, &store)?;
        }
        Command::Serve(args) => {
            drop(out);
            serve(cli, args)?;
        }
    }
    Ok(())
}

fn set_status(
    cli: &Cli,
    out: &mut impl Write,
    fingerprint: &str,
    status: Status,
) -> Result<(), Failure> {
    let store = open_write(&cli.db)?;
    if !store.set_status(fingerprint, status)? {
        return Err(not_found(fingerprint));
    }
    if cli.json {
        write_json(
            out,
            &serde_json::json!({"fingerprint": fingerprint, "status": status}),
        )?;
    } else {
        writeln!(out, "{fingerprint} is now {status}")?;
    }
    Ok(())
}

/// `resolve --in-release R` (`Some`) or `--in-next-release` (`None`).
fn resolve_in(
    cli: &Cli,
    out: &mut impl Write,
    fingerprint: &str,
    release: Option<String>,
) -> Result<(), Failure> {
    let store = open_write(&cli.db)?;
    let resolved_in = match release {
        Some(release) => ResolvedIn::Release(release),
        None => match store.get(fingerprint)? {
            Some(group) => ResolvedIn::NextAfter(group.summary.last_release),
            None => return Err(not_found(fingerprint)),
        },
    };
    if !store.resolve_in(fingerprint, resolved_in.clone())? {
        return Err(not_found(fingerprint));
    }
    if cli.json {
        write_json(
            out,
            &serde_json::json!({
                "fingerprint": fingerprint,
                "status": Status::Resolved,
                "resolved_in": resolved_in,
            }),
        )?;
    } else {
        writeln!(
            out,
            "{fingerprint} is now resolved {}",
            clean(&resolved_in.describe())
        )?;
    }
    Ok(())
}

fn write_json(out: &mut impl Write, value: &impl serde::Serialize) -> Result<(), Failure> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

/// Every error with its samples as one JSON array, written one error at a time. Errors
/// deleted while the export runs are left out.
fn export_json(out: &mut impl Write, store: &RedbStore) -> Result<(), Failure> {
    let mut fingerprints = Vec::new();
    let mut page = 1;
    loop {
        let listed = store.list(&ListQuery::page(page, 500))?;
        fingerprints.extend(listed.items.iter().map(|e| e.fingerprint.clone()));
        if !listed.has_next() {
            break;
        }
        page += 1;
    }
    write!(out, "[")?;
    let mut first = true;
    for fingerprint in fingerprints {
        let Some(group) = store.get(&fingerprint)? else {
            continue;
        };
        write!(out, "{}\n  ", if first { "" } else { "," })?;
        first = false;
        serde_json::to_writer(&mut *out, &group).map_err(io::Error::from)?;
    }
    writeln!(out, "{}]", if first { "" } else { "\n" })?;
    Ok(())
}

/// `2026-11-25 06:04:02 UTC`.
fn timestamp(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    // Writing these components of a UTC date-time into a string cannot fail; the empty
    // fallback only keeps the signature free of an impossible error.
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

/// `text` with control characters (terminal escape sequences and line breaks included) and
/// the invisible characters that reorder or hide text (bidirectional overrides and isolates,
/// zero-width characters, line and paragraph separators) shown as `\u{..}` escapes: a stored
/// message must neither drive the terminal it is printed on nor forge lines or reorder
/// what an operator reads.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || is_invisible_format(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Format characters that change how the text around them is shown.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
    )
}

/// Cuts `text` to `max` characters on one line.
fn short(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    let mut out: String = clean(line).chars().take(max).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

fn print_list(
    out: &mut impl Write,
    page: &Page<ErrorSummary>,
    args: &ListArgs,
) -> Result<(), Failure> {
    if page.total == 0 {
        writeln!(out, "No errors.")?;
        return Ok(());
    }
    let mut table = Table::new();
    table
        .load_style(LIST_STYLE)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "FINGERPRINT",
            "STATUS",
            "COUNT",
            "LAST SEEN",
            "KIND",
            "MESSAGE",
        ]);
    for error in &page.items {
        let status = if error.regressed && error.status == Status::Unresolved {
            "regressed".to_owned()
        } else {
            error.status.to_string()
        };
        table.add_row([
            clean(&error.fingerprint),
            status,
            error.count.to_string(),
            timestamp(error.last_seen),
            short(&error.kind, 40),
            short(&error.message, 80),
        ]);
    }
    if let Some(column) = table.column_mut(2) {
        column.set_cell_alignment(comfy_table::CellAlignment::Right);
    }
    writeln!(out, "{table}")?;
    if page.items.is_empty() {
        writeln!(out, "Page {} is past the end.", page.page)?;
    }
    let mut footer = format!(
        "Page {} of {} · {} error{}",
        page.page,
        page.page_count(),
        page.total,
        if page.total == 1 { "" } else { "s" }
    );
    if page.has_next() {
        footer.push_str(&format!(" · next: --page {}", args.page + 1));
    }
    writeln!(out, "{footer}")?;
    Ok(())
}

fn print_group(out: &mut impl Write, group: &ErrorGroup) -> Result<(), Failure> {
    let e = &group.summary;
    writeln!(out, "{}: {}", clean(&e.kind), clean(&e.message))?;
    writeln!(out)?;
    let location = match (&e.location.file, e.location.line) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        (Some(file), None) => file.clone(),
        _ => e.location.target.clone(),
    };
    let status = match &e.resolved_in {
        _ if e.regressed && e.status == Status::Unresolved => format!("{} (regressed)", e.status),
        Some(resolved_in) if e.status == Status::Resolved => {
            format!("{} {}", e.status, resolved_in.describe())
        }
        _ => e.status.to_string(),
    };
    let releases = match (&e.first_release, &e.last_release) {
        (Some(first), Some(last)) if first != last => format!("{first} to {last}"),
        (Some(release), _) | (None, Some(release)) => release.clone(),
        (None, None) => "-".to_owned(),
    };
    for (name, value) in [
        ("Fingerprint", e.fingerprint.clone()),
        ("Status", status),
        ("Count", e.count.to_string()),
        ("First seen", timestamp(e.first_seen)),
        ("Last seen", timestamp(e.last_seen)),
        ("Level", e.level.as_str().to_owned()),
        ("Location", location),
        ("Target", e.location.target.clone()),
        ("Releases", releases),
        (
            "Samples",
            format!(
                "{} kept, {} not kept",
                group.samples.len(),
                group.dropped_samples
            ),
        ),
    ] {
        writeln!(out, "{name:<12} {}", clean(&value))?;
    }
    let Some(sample) = group.samples.last() else {
        return Ok(());
    };
    writeln!(out)?;
    writeln!(
        out,
        "Newest sample ({}, id {})",
        timestamp(sample.time),
        sample.id
    )?;
    writeln!(out, "  {}", clean(&sample.message))?;
    let thread = sample.thread.name.as_deref().unwrap_or("unnamed");
    writeln!(
        out,
        "  thread {} {}, host {}, pid {}",
        clean(thread),
        clean(&sample.thread.id),
        clean(&sample.host),
        sample.process_id
    )?;
    if sample.release.is_some() || sample.environment.is_some() {
        writeln!(
            out,
            "  release {}, environment {}",
            clean(sample.release.as_deref().unwrap_or("-")),
            clean(sample.environment.as_deref().unwrap_or("-"))
        )?;
    }
    if let Some(trace_id) = &sample.trace_id {
        writeln!(
            out,
            "  trace {} span {}",
            clean(trace_id),
            clean(sample.span_id.as_deref().unwrap_or("-"))
        )?;
    }
    if !sample.error_chain.is_empty() {
        writeln!(out, "  Error chain:")?;
        for link in &sample.error_chain {
            writeln!(out, "    {}: {}", clean(&link.kind), clean(&link.message))?;
        }
    }
    if !sample.breadcrumbs.is_empty() {
        writeln!(out, "  Breadcrumbs (oldest first):")?;
        for crumb in &sample.breadcrumbs {
            writeln!(out, "    {}", clean(&crumb.to_string()))?;
        }
    }
    if !sample.backtrace.is_empty() {
        writeln!(
            out,
            "  Backtrace (innermost first, * the application's frames):"
        )?;
        for frame in &sample.backtrace {
            let mark = if frame.in_app { '*' } else { ' ' };
            writeln!(out, "    {mark} {}", clean(&frame.to_string()))?;
        }
    }
    let section =
        |out: &mut dyn Write, name: &str, map: &serde_json::Map<String, Value>| -> io::Result<()> {
            if map.is_empty() {
                return Ok(());
            }
            writeln!(out, "  {name}:")?;
            for (key, value) in map {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                writeln!(out, "    {} = {}", clean(key), clean(&text))?;
            }
            Ok(())
        };
    section(out, "Fields", &sample.fields)?;
    if !sample.spans.is_empty() {
        writeln!(out, "  Spans (outermost first):")?;
        for span in &sample.spans {
            let fields: Vec<String> = span
                .fields
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    )
                })
                .collect();
            writeln!(
                out,
                "    {}::{} {}",
                clean(&span.target),
                clean(&span.name),
                clean(&fields.join(" "))
            )?;
        }
    }
    section(out, "Extras", &sample.extras)?;
    section(out, "Tags", &sample.tags)?;
    if let Some(user) = &sample.user {
        writeln!(out, "  User: {}", clean(&user.to_string()))?;
    }
    Ok(())
}

fn serve(cli: &Cli, args: &ServeArgs) -> Result<(), Failure> {
    let store = Arc::new(open_write(&cli.db)?);
    // Only the names it is served under: a page of another site whose name resolves to
    // this machine (DNS rebinding) names its own host and is refused.
    let mut hosts = args.hosts.clone();
    if !args.addr.ip().is_unspecified() {
        hosts.push(match args.addr.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        });
    }
    let dashboard = Dashboard::new(store)
        .page_size(args.page_size)
        .title(args.title.clone())
        .allowed_hosts(hosts);
    let (dashboard, access) = if let Some(token) = &args.token {
        (
            dashboard.permission(BearerToken::new(token)),
            "requests with the bearer token",
        )
    } else if let Some(pair) = &args.basic {
        let Some((user, password)) = pair.split_once(':') else {
            return Err(Failure {
                code: EXIT_FAILURE,
                message: "--basic takes USER:PASSWORD".to_owned(),
            });
        };
        (
            dashboard.permission(BasicAuth::new(user, password)),
            "the user and password given with --basic",
        )
    } else if args.allow_all {
        (dashboard.permission(AllowAll), "everyone (--allow-all)")
    } else {
        (
            dashboard.permission(LoopbackOnly),
            "clients on this machine only (loopback)",
        )
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|err| Failure {
                code: EXIT_FAILURE,
                message: format!("cannot listen on {}: {err}", args.addr),
            })?;
        let addr = listener.local_addr()?;
        // On standard output, where a script that starts the server reads what it prints;
        // notes and failures go to standard error.
        println!(
            "Serving the errors in {} at http://{addr}/ for {access}. Ctrl-C stops.",
            cli.db.display()
        );
        io::stdout().flush()?;
        if !addr.ip().is_loopback()
            && args.token.is_none()
            && args.basic.is_none()
            && !args.allow_all
        {
            eprintln!(
                "note: only clients on this machine are let in; use --basic or --token for others"
            );
        }
        error_tracker::dashboard::serve(listener, dashboard.router(), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
        Ok(())
    })
}
