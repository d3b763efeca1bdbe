//! Progress of the long admin commands: a bar on a terminal, plain lines otherwise
//! (logs, cron mails and CI keep readable output instead of control characters).

use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a plain progress line is printed.
const LINE_EVERY: Duration = Duration::from_secs(2);

/// Progress of one phase (verifying, restoring, backing up), shown on stderr.
pub struct Progress {
    label: &'static str,
    unit: &'static str,
    bar: Option<ProgressBar>,
    total: u64,
    done: u64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// A progress display for `total` items counted in `unit` (an estimate is fine: the
    /// total grows if it is passed).
    pub fn new(label: &'static str, total: u64, unit: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(&format!(
                "{{msg:>8}} [{{bar:40}}] {{pos}}/{{len}} {unit}, {{elapsed}} (eta {{eta}})"
            )) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label);
            bar
        });
        let now = Instant::now();
        Progress {
            label,
            unit,
            bar,
            total,
            done: 0,
            started: now,
            last_line: now,
        }
    }

    /// Sets how many items are done.
    pub fn set(&mut self, done: u64) {
        self.done = done;
        if self.done > self.total {
            self.total = self.done;
            if let Some(bar) = &self.bar {
                bar.set_length(self.total);
            }
        }
        match &self.bar {
            Some(bar) => bar.set_position(self.done),
            None if self.last_line.elapsed() >= LINE_EVERY => {
                self.last_line = Instant::now();
                eprintln!("{}: {}/{} {}", self.label, self.done, self.total, self.unit);
            }
            None => {}
        }
    }

    /// Counts `n` more items done.
    pub fn inc(&mut self, n: u64) {
        self.set(self.done + n);
    }

    /// Ends the display with a summary line.
    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!(
            "{}: {} {} in {:.1} s",
            self.label,
            self.done,
            self.unit,
            self.started.elapsed().as_secs_f64()
        );
    }
}
