//! Progress of long work (the admin commands, a store migration): a bar on a terminal,
//! plain lines otherwise (logs, cron mails and CI keep readable output instead of
//! control characters).

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
    /// Nothing is shown before this (work that ends sooner stays silent).
    quiet_until: Instant,
    shown: bool,
}

/// How long [`Progress::delayed`] stays silent.
const DELAY: Duration = Duration::from_secs(1);

impl Progress {
    /// A progress display for `total` items counted in `unit` (an estimate is fine: the
    /// total grows if it is passed).
    pub fn new(label: &'static str, total: u64, unit: &'static str) -> Self {
        Self::make(label, total, unit, Duration::ZERO)
    }

    /// [`Progress::new`] that shows nothing during its first second: for work that is
    /// usually quick (a migration of a small store).
    pub fn delayed(label: &'static str, total: u64, unit: &'static str) -> Self {
        Self::make(label, total, unit, DELAY)
    }

    fn make(label: &'static str, total: u64, unit: &'static str, delay: Duration) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let target = match delay.is_zero() {
                true => ProgressDrawTarget::stderr(),
                false => ProgressDrawTarget::hidden(),
            };
            let bar = ProgressBar::with_draw_target(Some(total), target);
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
            quiet_until: now + delay,
            shown: delay.is_zero(),
        }
    }

    /// Sets the total, once it is known.
    pub fn set_total(&mut self, total: u64) {
        self.total = total;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
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
        if !self.shown {
            if Instant::now() < self.quiet_until {
                return;
            }
            self.shown = true;
            if let Some(bar) = &self.bar {
                bar.set_draw_target(ProgressDrawTarget::stderr());
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
        if !self.shown {
            return;
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
