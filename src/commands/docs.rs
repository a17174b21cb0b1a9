//! The documentation bbship carries in itself: shell completion scripts and the man page,
//! both generated from the clap definition of the command line, so they can never drift
//! from the options the binary really takes.

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, CompletionShell};
use crate::error::EXIT_OK;

/// Writes the completion script for `shell`.
pub fn completions(shell: CompletionShell, out: &mut dyn Write) -> Result<u8> {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut command = Cli::command();
    let name = command.get_name().to_owned();
    clap_complete::generate(shell, &mut command, name, out);
    out.flush().context("writing the completion script")?;
    Ok(EXIT_OK)
}

/// Writes the man page, `bbship(1)`, with a section for every subcommand (its synopsis,
/// description and options): one page is what `man bbship` finds, and a subcommand's
/// options are only found there if the page names them.
pub fn man(out: &mut dyn Write) -> Result<u8> {
    let command = Cli::command();
    let page = clap_mangen::Man::new(command.clone());
    let mut text = Vec::new();
    page.render_title(&mut text)?;
    page.render_name_section(&mut text)?;
    page.render_synopsis_section(&mut text)?;
    page.render_description_section(&mut text)?;
    page.render_options_section(&mut text)?;
    // clap_mangen's subcommand list points at one page per subcommand; bbship ships one
    // page, with a section per subcommand below instead.
    for subcommand in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let full_name = format!("{} {}", command.get_name(), subcommand.get_name());
        let sub_page = clap_mangen::Man::new(subcommand.clone().bin_name(full_name.clone()));
        let mut section = Vec::new();
        sub_page.render_synopsis_section(&mut section)?;
        sub_page.render_description_section(&mut section)?;
        sub_page.render_options_section(&mut section)?;
        if subcommand.get_after_help().is_some() {
            sub_page.render_extra_section(&mut section)?;
        }
        writeln!(text, ".SH \"{}\"", full_name.to_uppercase())?;
        text.extend_from_slice(&as_subsections(&String::from_utf8_lossy(&section)).into_bytes());
    }
    page.render_extra_section(&mut text)?;
    page.render_version_section(&mut text)?;
    // Every "after help" text is an example.
    let text = String::from_utf8_lossy(&text)
        .replace(".SH EXTRA\n", ".SH EXAMPLE\n")
        .replace(".SS EXTRA\n", ".SS EXAMPLE\n");
    out.write_all(text.as_bytes())
        .context("writing the man page")?;
    out.flush().context("writing the man page")?;
    Ok(EXIT_OK)
}

/// Demotes the section headings of a subcommand's own page to subsections, so that page
/// becomes one section of the main page.
fn as_subsections(roff: &str) -> String {
    roff.lines()
        .map(|line| match line.strip_prefix(".SH ") {
            Some(heading) => format!(".SS {heading}\n"),
            None => format!("{line}\n"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_headings_become_subsections() {
        assert_eq!(as_subsections(".SH OPTIONS\n.TP\n"), ".SS OPTIONS\n.TP\n");
    }
}
