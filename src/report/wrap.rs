//! Text lines fitted to a width: a line longer than the width is broken at spaces, its
//! continuation indented under its text (past a list number such as ` 12. `); a word longer
//! than the width is cut. Colour escapes take no room. Widths count characters, not cells.

/// `text` (lines ending in `\n`) with every line at most `width` characters wide.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        wrap_line(body, width, &mut out);
        out.push_str(newline);
    }
    out
}

/// How many characters `s` shows: colour escapes (`ESC [ … m`) show none.
fn visible(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

/// Where a continuation starts: under the text after the indent and a list number (`  3. `).
fn hanging_indent(line: &str, width: usize) -> usize {
    let lead = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[lead..];
    let number = rest
        .split_once(". ")
        .filter(|(n, _)| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()))
        .map_or(0, |(n, _)| n.len() + 2);
    let hang = if number > 0 { number } else { 2 };
    (lead + hang).min(width / 2)
}

fn wrap_line(line: &str, width: usize, out: &mut String) {
    if width == 0 || visible(line) <= width {
        out.push_str(line);
        return;
    }
    let indent = hanging_indent(line, width);
    let lead = line.len() - line.trim_start_matches(' ').len();
    let mut col = lead;
    out.push_str(&line[..lead]);
    let mut first_word = true;
    for word in line[lead..].split(' ').filter(|w| !w.is_empty()) {
        let w = visible(word);
        if !first_word && col + 1 + w > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else if !first_word {
            out.push(' ');
            col += 1;
        }
        first_word = false;
        // A word wider than the room left is cut where the line ends.
        let mut rest = word;
        while col + visible(rest) > width && width > col {
            let room = width - col;
            let cut = char_boundary_after(rest, room);
            if cut == 0 || cut >= rest.len() {
                break;
            }
            out.push_str(&rest[..cut]);
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
            rest = &rest[cut..];
        }
        out.push_str(rest);
        col += visible(rest);
    }
}

/// The byte offset after `n` visible characters of `s` (escapes kept whole).
fn char_boundary_after(s: &str, n: usize) -> usize {
    let mut seen = 0;
    let mut in_escape = false;
    for (i, c) in s.char_indices() {
        if !in_escape && c != '\x1b' && seen == n {
            return i;
        }
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => seen += 1,
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn long_lines_break_at_spaces_under_their_text() {
        let text = "     1. LWP 5 waits for mutex m: #4 place_order (c_abba.c:67), in pthread_mutex_lock\n";
        let got = wrap(text, 40);
        for line in got.lines() {
            assert!(line.chars().count() <= 40, "{line:?} in\n{got}");
        }
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines[0], "     1. LWP 5 waits for mutex m: #4");
        assert!(lines[1].starts_with("        place_order"), "{got}");
        assert_eq!(
            got.replace('\n', " ")
                .split_whitespace()
                .collect::<Vec<_>>(),
            text.split_whitespace().collect::<Vec<_>>()
        );
    }

    #[test]
    fn short_lines_and_zero_width_are_kept() {
        let text = "DEADLOCK: lock cycle\n\nthreads:\n";
        assert_eq!(wrap(text, 80), text);
        let long = format!("{}\n", "x ".repeat(100));
        assert_eq!(wrap(&long, 0), long);
    }

    #[test]
    fn colour_takes_no_room_and_long_words_are_cut() {
        let text = "\x1b[1;31mDEADLOCK: a b\x1b[0m\n";
        assert_eq!(wrap(text, 13), text);
        let word = format!("  {}\n", "y".repeat(30));
        let got = wrap(&word, 12);
        assert!(got.lines().all(|l| l.chars().count() <= 12), "{got}");
        assert_eq!(got.chars().filter(|&c| c == 'y').count(), 30);
    }
}
