//! `.dockerignore`: which paths of the build context COPY and ADD cannot
//! see. docker's rules: one pattern a line (`#` comments), paths relative
//! to the context root, `*` and `?` within a name, `**` across names; a
//! pattern that matches a directory covers everything under it; `!`
//! makes an exception, and the last pattern that matches decides.

use super::context::normal_parts;
use crate::image::ImageError;
use globset::{GlobBuilder, GlobMatcher};
use std::path::Path;

pub struct Ignore {
    patterns: Vec<Pattern>,
}

struct Pattern {
    glob: GlobMatcher,
    exception: bool,
}

impl Ignore {
    /// The context's `.dockerignore` (nothing ignored without one).
    pub fn read(context: &Path) -> Result<Ignore, ImageError> {
        let path = context.join(".dockerignore");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ignore::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ignore {
                patterns: Vec::new(),
            }),
            Err(e) => Err(ImageError::io(format!("reading {}", path.display()))(e)),
        }
    }

    pub fn parse(text: &str) -> Result<Ignore, ImageError> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            // A clean relative path: no leading `/` or `./`, `..` taken back.
            let cleaned = normal_parts(pattern).0.join("/");
            if cleaned.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(&cleaned)
                .literal_separator(true)
                .build()
                .map_err(|e| ImageError::Invalid(format!(".dockerignore: pattern {line:?}: {e}")))?
                .compile_matcher();
            patterns.push(Pattern { glob, exception });
        }
        Ok(Ignore { patterns })
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out.
    pub fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for pattern in &self.patterns {
            // The path itself or a directory above it.
            let matched = path
                .match_indices('/')
                .map(|(at, _)| &path[..at])
                .chain([path])
                .any(|prefix| pattern.glob.is_match(prefix));
            if matched {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// Whether some exception could bring back a path under an excluded
    /// directory (so the walk must go into it).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_patterns_exceptions_and_directories() {
        let ignore = Ignore::parse(
            "# comment\n/secret.txt\n*.log\n!keep.log\nbuild\n**/*.tmp\ndocs/*/draft\n",
        )
        .unwrap();
        for (path, excluded) in [
            ("secret.txt", true),
            ("sub/secret.txt", false),
            ("a.log", true),
            ("sub/a.log", false),
            ("keep.log", false),
            ("build", true),
            ("build/out/x", true),
            ("x.tmp", true),
            ("deep/er/x.tmp", true),
            ("docs/v1/draft", true),
            ("docs/v1/v2/draft", false),
            ("main.rs", false),
        ] {
            assert_eq!(ignore.excludes(path), excluded, "{path}");
        }
        assert!(ignore.has_exceptions());
    }
}
