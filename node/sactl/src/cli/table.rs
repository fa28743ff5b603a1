//! Tables sized to their content: each column as wide as its widest cell (header included),
//! two spaces apart, the last column unpadded, so a long rule name or address never shifts the
//! columns after it.

pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }

    fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for cells in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in cells.iter().enumerate().take(columns) {
                if i + 1 == columns {
                    line.push_str(cell);
                } else {
                    let pad = widths[i] - cell.chars().count();
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_longest_cell() {
        let mut table = Table::new(&["RULE", "STATUS", "OUTPUTS"]);
        table.row(vec!["a".into(), "delivered".into(), "slack:x=done".into()]);
        table.row(vec![
            "a_rule_with_a_name_longer_than_any_column_width".into(),
            "pending".into(),
            String::new(),
        ]);
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let status_at = lines[0].find("STATUS").unwrap();
        assert_eq!(lines[1].find("delivered"), Some(status_at));
        assert_eq!(lines[2].find("pending"), Some(status_at));
        assert_eq!(
            status_at,
            "a_rule_with_a_name_longer_than_any_column_width".len() + 2
        );
        assert!(lines.iter().all(|line| !line.ends_with(' ')));
    }
}
