//! The one table every scenario prints: figure, value, target.

/// One line of the table.
pub struct Row {
    /// What was measured.
    pub figure: String,
    /// What came out.
    pub value: String,
    /// What the issue asks for ("" if nothing).
    pub target: String,
}

/// Rows and notes of one run.
#[derive(Default)]
pub struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Report {
    /// Adds a row.
    pub fn row(
        &mut self,
        figure: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
    ) {
        self.rows.push(Row {
            figure: figure.into(),
            value: value.into(),
            target: target.into(),
        });
    }

    /// Adds a note printed under the table.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Prints the table as Markdown.
    pub fn print(&self, title: &str) {
        let w0 = self
            .rows
            .iter()
            .map(|r| r.figure.len())
            .max()
            .unwrap_or(0)
            .max(6);
        let w1 = self
            .rows
            .iter()
            .map(|r| r.value.len())
            .max()
            .unwrap_or(0)
            .max(5);
        println!("\n### {title}\n");
        println!("| {:w0$} | {:w1$} | target |", "figure", "value");
        println!("|{}|{}|---|", "-".repeat(w0 + 2), "-".repeat(w1 + 2));
        for r in &self.rows {
            println!("| {:w0$} | {:w1$} | {} |", r.figure, r.value, r.target);
        }
        if !self.notes.is_empty() {
            println!();
            for n in &self.notes {
                println!("- {n}");
            }
        }
    }
}
