"""Regenerate the bad-input corpus: ``python tests/reliability/corpus/make_corpus.py``.

The files are committed; this script documents exactly what is in each of them (binary and
non-UTF-8 files are hard to read in a diff) and rewrites them byte-for-byte. MANIFEST.csv
says what the CLI must do with each file (reject: the one error line it must print; accept:
exit 0 with ``--dry-run``, optionally with a warning).
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

EST_HEADER = "gemeente,arm,outcome,estimate,se,ci_low,ci_high,p_value,n_treatment,n_control\n"
EST_OK = ("groningen,zelf_in_actie,work_gt12h,0.02,0.01,,,,,\n"
          "nijmegen,zelf_in_actie,work_gt12h,0.03,0.015,,,,,\n")
MD_HEADER = "person_id,gemeente,arm,participated,coach,work_gt12h_m24,social_trust_m24\n"
MD_OK = ("p1,oss,control,1,c1,0,0.5\n"
         "p2,oss,zelf_in_actie,1,c1,1,-0.2\n"
         "p3,nijmegen,control,0,c7,0,0.1\n"
         "p4,nijmegen,extra_hulp,1,c8,1,0.3\n")
SPEC_OK = '[sampler]\ndraws = 100\n'

# (file, kind, expect, row, field, fragment, content)
CASES: list[tuple[str, str, str, str, str, str, bytes | str]] = [
    # ---------------------------------------------------------------- estimates: rejected
    ("estimates/empty.csv", "estimates", "reject", "", "", "file is empty", b""),
    ("estimates/blank_lines_only.csv", "estimates", "reject", "", "", "file is empty", "\n  \n\n"),
    ("estimates/header_only.csv", "estimates", "reject", "", "", "header but no data rows",
     EST_HEADER),
    ("estimates/missing_required_columns.csv", "estimates", "reject", "", "outcome",
     "missing required column(s): outcome", "gemeente,arm,estimate,se\ngroningen,zelf_in_actie,0.02,0.01\n"),
    ("estimates/misspelt_column.csv", "estimates", "reject", "", "estimate",
     "did you mean 'estimate'",
     "gemeente,arm,outcome,estimat,se\ngroningen,zelf_in_actie,work_gt12h,0.02,0.01\n"),
    ("estimates/text_in_number.csv", "estimates", "reject", "3", "estimate",
     "'twee procent' is not a number",
     EST_HEADER + EST_OK.splitlines(True)[0] + "nijmegen,zelf_in_actie,work_gt12h,twee procent,0.01,,,,,\n"),
    ("estimates/dutch_excel_text_in_number.csv", "estimates", "reject", "2", "se",
     "'0,01,5' is not a number",
     "gemeente;arm;outcome;estimate;se\ngroningen;zelf_in_actie;work_gt12h;0,02;0,01,5\n"),
    ("estimates/se_zero.csv", "estimates", "reject", "2", "se", "se must be > 0, got 0",
     EST_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,0,,,,,\n"),
    ("estimates/se_negative.csv", "estimates", "reject", "3", "se", "se must be > 0, got -0.01",
     EST_HEADER + EST_OK.splitlines(True)[0] + "nijmegen,zelf_in_actie,work_gt12h,0.03,-0.01,,,,,\n"),
    ("estimates/nan_estimate.csv", "estimates", "reject", "2", "estimate", "not a finite number",
     EST_HEADER + "groningen,zelf_in_actie,work_gt12h,NaN,0.01,,,,,\n"),
    ("estimates/inf_se.csv", "estimates", "reject", "2", "se", "not a finite number",
     EST_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,inf,,,,,\n"),
    ("estimates/ci_excludes_estimate.csv", "estimates", "reject", "2", "estimate",
     "lies outside its CI [0.1, 0.2]",
     EST_HEADER + "groningen,zelf_in_actie,work_gt12h,0.5,,0.1,0.2,,,\n"),
    ("estimates/ci_reversed.csv", "estimates", "reject", "2", "ci_low", "ci_low 0.2 > ci_high 0.1",
     EST_HEADER + "groningen,zelf_in_actie,work_gt12h,0.15,,0.2,0.1,,,\n"),
    ("estimates/ci_half_given.csv", "estimates", "reject", "2", "ci_high",
     "ci_low and ci_high must be given together",
     EST_HEADER + "groningen,zelf_in_actie,work_gt12h,0.15,,0.1,,,,\n"),
    ("estimates/ci_level_percent.csv", "estimates", "reject", "2", "ci_level",
     "ci_level must be in (0, 1), got 95",
     "gemeente,arm,outcome,estimate,ci_low,ci_high,ci_level\n"
     "groningen,zelf_in_actie,work_gt12h,0.02,0.01,0.03,95\n"),
    ("estimates/p_above_one.csv", "estimates", "reject", "2", "p_value",
     "p_value must be in [0, 1], got 1.5",
     EST_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,,,,1.5,,\n"),
    ("estimates/p_negative.csv", "estimates", "reject", "2", "p_value",
     "p_value must be in [0, 1], got -0.05",
     EST_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,,,,-0.05,,\n"),
    ("estimates/duplicate_rows.csv", "estimates", "reject", "4", "estimate", "duplicate of row 2",
     EST_HEADER + EST_OK + EST_OK.splitlines(True)[0]),
    ("estimates/absurd_estimate.csv", "estimates", "reject", "2", "estimate", "implausibly large",
     EST_HEADER + "groningen,zelf_in_actie,work_gt12h,1e12,0.01,,,,,\n"),
    ("estimates/absurd_sample_size.csv", "estimates", "reject", "2", "n_treatment",
     "implausibly large", EST_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,,,,,999999999,300\n"),
    ("estimates/negative_sample_size.csv", "estimates", "reject", "2", "n_control",
     "n_control must be > 0", EST_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,,,,,300,-3\n"),
    ("estimates/fractional_sample_size.csv", "estimates", "reject", "2", "n_treatment",
     "must be a whole number", EST_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,,,,,300.5,300\n"),
    ("estimates/no_uncertainty.csv", "estimates", "reject", "2", "se", "no uncertainty information",
     EST_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,,,,,,\n"),
    ("estimates/empty_gemeente.csv", "estimates", "reject", "2", "gemeente", "empty value",
     EST_HEADER + ",zelf_in_actie,work_gt12h,0.02,0.01,,,,,\n"),
    ("estimates/too_many_cells.csv", "estimates", "reject", "3", "", "row has 12 cells but the header has 10",
     EST_HEADER + EST_OK.splitlines(True)[0] + "nijmegen,zelf_in_actie,work_gt12h,0.03,0.01,,,,,,x,y\n"),
    ("estimates/duplicate_header.csv", "estimates", "reject", "1", "se",
     "column appears twice in the header",
     "gemeente,arm,outcome,estimate,se,se\ngroningen,zelf_in_actie,work_gt12h,0.02,0.01,0.01\n"),
    ("estimates/blank_lines_counted.csv", "estimates", "reject", "5", "se", "se must be > 0",
     EST_HEADER + EST_OK.splitlines(True)[0] + "\n\n" + "nijmegen,zelf_in_actie,work_gt12h,0.03,0,,,,,\n"),
    ("estimates/binary_png.csv", "estimates", "reject", "", "", "binary",
     b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256))),
    ("estimates/excel_xlsx_renamed.csv", "estimates", "reject", "", "", "binary",
     b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + b"[Content_Types].xml" + bytes(64)),
    ("estimates/random_bytes.csv", "estimates", "reject", "", "", "not a text table",
     random.Random(2017).randbytes(4096).replace(b"\x00", b"\x01")),
    # ---------------------------------------------------------------- estimates: accepted
    ("accepted/estimates_dutch_excel_latin1.csv", "estimates", "accept", "", "", "",
     ("gemeente;arm;outcome;estimate;se;n_treatment;notes;\n"
      "súdwest_fryslân;zelf_in_actie;work_gt12h;0,025;0,012;1234;Súdwest-Fryslân, pilot ’s-winters;\n"
      "groningen;extra_hulp;work_gt12h;-0,005;0,008;;Groningen;\n").encode("cp1252")),
    ("accepted/estimates_latin1.csv", "estimates", "accept", "", "", "",
     ("gemeente,arm,outcome,estimate,se,notes\n"
      "súdwest_fryslân,zelf_in_actie,work_gt12h,0.025,0.012,Súdwest-Fryslân (Fryslân)\n"
      "nijmegen,zelf_in_actie,work_gt12h,0.03,0.015,café één\n").encode("latin-1")),
    ("accepted/estimates_utf8_bom_crlf.csv", "estimates", "accept", "", "", "",
     ("\ufeff" + EST_HEADER + EST_OK).replace("\n", "\r\n").encode("utf-8")),
    ("accepted/estimates_extra_columns.csv", "estimates", "accept", "", "", "",
     EST_HEADER.strip() + ",my_notes,Bron\n" + "".join(
         line.strip() + ",checked,rapport p. 12\n" for line in EST_OK.splitlines())),
    ("accepted/estimates_capitalised_headers.csv", "estimates", "accept", "", "", "",
     "Gemeente,Arm,Outcome,Estimate,SE\n" + "groningen,zelf_in_actie,work_gt12h,0.02,0.01\n"
     "nijmegen,zelf_in_actie,work_gt12h,0.03,0.015\n"),
    ("accepted/estimates_near_miss_arm.csv", "estimates", "accept", "2", "arm",
     "did you mean 'zelf_in_actie'?",
     EST_HEADER + "groningen,zelf_in_aktie,work_gt12h,0.02,0.01,,,,,\n"
     "nijmegen,zelf_in_actie,work_gt12h,0.03,0.015,,,,,\n"),
    ("accepted/estimates_near_miss_outcome.csv", "estimates", "accept", "4", "outcome",
     "did you mean 'work_gt12h'?",
     EST_HEADER + EST_OK + "oss,zelf_in_actie,work_gt12hh,0.03,0.015,,,,,\n"),
    # ---------------------------------------------------------------- microdata: rejected
    ("microdata/empty.csv", "microdata", "reject", "", "", "file is empty", b""),
    ("microdata/header_only.csv", "microdata", "reject", "", "", "file has no data rows", MD_HEADER),
    ("microdata/missing_arm_column.csv", "microdata", "reject", "", "arm",
     "required column 'arm' is missing",
     "person_id,gemeente,participated,work_gt12h_m24\np1,oss,1,0\n"),
    ("microdata/text_in_number.csv", "microdata", "reject", "3", "participated",
     "'ja' is not a number", MD_HEADER + MD_OK.splitlines(True)[0] + "p2,oss,zelf_in_actie,ja,c1,1,0.1\n"),
    ("microdata/binary_outcome_not_01.csv", "microdata", "reject", "4", "work_gt12h_m24",
     "binary column must be 0 or 1, got '2'",
     MD_HEADER + "".join(MD_OK.splitlines(True)[:2]) + "p3,nijmegen,control,0,c7,2,0.1\n"),
    ("microdata/nan_participated.csv", "microdata", "reject", "2", "participated",
     "value is missing", MD_HEADER + "p1,oss,control,NaN,c1,0,0.5\n"),
    ("microdata/inf_score.csv", "microdata", "reject", "3", "social_trust_m24",
     "not a finite number", MD_HEADER + MD_OK.splitlines(True)[0] + "p2,oss,zelf_in_actie,1,c1,1,inf\n"),
    ("microdata/absurd_score.csv", "microdata", "reject", "2", "social_trust_m24",
     "implausibly large", MD_HEADER + "p1,oss,control,1,c1,0,4e15\n"),
    ("microdata/person_in_two_arms.csv", "microdata", "reject", "5", "person_id",
     "person 'p2' is in two arms", MD_HEADER + MD_OK.splitlines(True)[0] + MD_OK.splitlines(True)[1]
     + MD_OK.splitlines(True)[2] + "p2,oss,extra_hulp,1,c1,1,0.0\n"),
    ("microdata/coach_in_two_gemeenten.csv", "microdata", "reject", "4", "coach",
     "coach 'c1' appears in two gemeenten", MD_HEADER + "".join(MD_OK.splitlines(True)[:2])
     + "p3,nijmegen,control,0,c1,0,0.1\n"),
    ("microdata/unknown_gemeente.csv", "microdata", "reject", "2", "gemeente",
     "unknown gemeente 'amsterdam'", MD_HEADER + "p1,amsterdam,control,1,c1,0,0.5\n"),
    ("microdata/near_miss_arm.csv", "microdata", "reject", "3", "arm",
     "did you mean 'zelf_in_actie'?", MD_HEADER + MD_OK.splitlines(True)[0]
     + "p2,oss,zelf_in_aktie,1,c1,1,-0.2\n"),
    ("microdata/misspelt_outcome_column.csv", "microdata", "reject", "", "work_gt12h_month24",
     "unknown column", "person_id,gemeente,arm,participated,work_gt12h_month24\np1,oss,control,1,0\n"),
    ("microdata/missing_person_id.csv", "microdata", "reject", "3", "person_id", "value is missing",
     MD_HEADER + MD_OK.splitlines(True)[0] + ",oss,zelf_in_actie,1,c1,1,-0.2\n"),
    ("microdata/binary_garbage.csv", "microdata", "reject", "", "", "binary",
     b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + random.Random(7).randbytes(2048)),
    ("microdata/formula_outcome_absent.csv", "microdata", "reject", "", "work_gt12h_m24",
     "is not a column", "person_id,gemeente,arm,participated,social_trust_m24\np1,oss,control,1,0.5\n"
     "p2,oss,extra_hulp,1,0.1\n"),
    # ---------------------------------------------------------------- microdata: accepted
    ("accepted/microdata_dutch_excel.csv", "microdata", "accept", "", "", "",
     ("# export uit Excel\n" + MD_HEADER.replace(",", ";")
      + "".join(line.replace(",", ";").replace("0.", "0,") for line in MD_OK.splitlines(True))
      ).replace("-0;2", "-0,2")),
    ("accepted/microdata_utf8_bom.csv", "microdata", "accept", "", "", "",
     ("\ufeff" + MD_HEADER + MD_OK).encode("utf-8")),
    ("accepted/microdata_latin1.csv", "microdata", "accept", "", "", "",
     (MD_HEADER + MD_OK.replace("c1", "Anoek Hüsken-Fryslân").replace("c7", "José van der Veen"))
     .encode("latin-1")),
    # ---------------------------------------------------------------- model specs: rejected
    ("specs/typo_key.toml", "spec", "reject", "4", "priors.binary.mu_sdd", "did you mean 'mu_sd'",
     "kind = \"meta_components\"\n\n[priors.binary]\nmu_sdd = 0.1\n"),
    ("specs/typo_table.toml", "spec", "reject", "1", "prior", "did you mean 'priors'",
     "[prior.binary]\nmu_sd = 0.1\n"),
    ("specs/negative_sd.toml", "spec", "reject", "3", "priors.binary.tau_sd",
     "must be > 0, got -0.05 (an impossible prior)", "[priors.binary]\nmu_sd = 0.1\ntau_sd = -0.05\n"),
    ("specs/zero_bias_sd.toml", "spec", "reject", "2", "bias.vs_reference",
     "must be > 0, got 0.0 (an impossible prior)", "[bias]\nvs_reference = 0.0\n"),
    ("specs/nan_prior.toml", "spec", "reject", "2", "priors.score.mu_sd", "must be a finite number",
     "[priors.score]\nmu_sd = nan\n"),
    ("specs/inf_prior.toml", "spec", "reject", "2", "priors.score.tau_sd", "must be a finite number",
     "[priors.score]\ntau_sd = inf\n"),
    ("specs/text_prior.toml", "spec", "reject", "2", "priors.binary.mu_sd", "must be a number",
     "[priors.binary]\nmu_sd = \"0.1\"\n"),
    ("specs/fractional_draws.toml", "spec", "reject", "2", "sampler.draws", "must be a whole number",
     "[sampler]\ndraws = 1.5\n"),
    ("specs/negative_seed.toml", "spec", "reject", "2", "sampler.random_seed", "must be between 0",
     "[sampler]\nrandom_seed = -1\n"),
    ("specs/target_accept.toml", "spec", "reject", "2", "sampler.target_accept", "must be in [0.5, 1)",
     "[sampler]\ntarget_accept = 1.2\n"),
    ("specs/unknown_pooling.toml", "spec", "reject", "2", "pooling.mode", "unknown pooling mode",
     "[pooling]\nmode = \"some\"\n"),
    ("specs/grades_not_a_list.toml", "spec", "reject", "2", "select.grades",
     "must be a list of strings", "[select]\ngrades = \"se\"\n"),
    ("specs/select_not_a_table.toml", "spec", "reject", "1", "select", "must be a table",
     "select = \"all\"\n"),
    ("specs/invalid_toml.toml", "spec", "reject", "", "", "not valid TOML", "kind = [\n"),
    ("specs/latin1.toml", "spec", "reject", "", "", "not UTF-8 text",
     "description = \"Súdwest-Fryslân\"\n".encode("latin-1")),
    ("specs/binary_garbage.toml", "spec", "reject", "", "", "binary",
     b"\x7fELF\x02\x01\x01\x00" + bytes(64)),
    # ---------------------------------------------------------------- model specs: accepted
    ("accepted/spec_minimal.toml", "spec", "accept", "", "", "", SPEC_OK),
    ("accepted/spec_utf8_bom.toml", "spec", "accept", "", "", "",
     ("\ufeff# Súdwest-Fryslân variant\ndescription = \"Súdwest-Fryslân\"\n" + SPEC_OK).encode("utf-8")),
]


# Probe families (MANIFEST.csv column ``family``), for counting the corpus by what it probes:
# structure (shape of the file/table), numeric (numbers and their domains), encoding (bytes,
# text encodings), names (codes and column names), paths (codes that become file names),
# specs (model-spec settings), microdata (person-level rows).
FAMILY_OF = {
    **{f"estimates/{n}.csv": "structure" for n in (
        "empty", "blank_lines_only", "header_only", "too_many_cells", "duplicate_header",
        "duplicate_rows", "blank_lines_counted", "missing_required_columns")},
    **{f"estimates/{n}.csv": "numeric" for n in (
        "text_in_number", "dutch_excel_text_in_number", "se_zero", "se_negative", "nan_estimate",
        "inf_se", "ci_excludes_estimate", "ci_reversed", "ci_half_given", "ci_level_percent",
        "p_above_one", "p_negative", "absurd_estimate", "absurd_sample_size",
        "negative_sample_size", "fractional_sample_size", "no_uncertainty")},
    **{f"estimates/{n}.csv": "encoding" for n in ("binary_png", "excel_xlsx_renamed",
                                                  "random_bytes")},
    **{f"estimates/{n}.csv": "names" for n in ("misspelt_column", "empty_gemeente")},
    **{f"accepted/estimates_{n}.csv": "encoding" for n in ("dutch_excel_latin1", "latin1",
                                                           "utf8_bom_crlf")},
    **{f"accepted/estimates_{n}.csv": "names" for n in ("extra_columns", "capitalised_headers",
                                                        "near_miss_arm", "near_miss_outcome")},
    **{f"accepted/microdata_{n}.csv": "microdata" for n in ("dutch_excel", "utf8_bom", "latin1")},
    **{f"accepted/spec_{n}.toml": "specs" for n in ("minimal", "utf8_bom")},
}


def family_of(name: str) -> str:
    """The probe family of a corpus file (see :data:`FAMILY_OF`)."""
    if name in FAMILY_OF:
        return FAMILY_OF[name]
    if name.startswith("microdata/"):
        return "microdata"
    if name.startswith("specs/"):
        return "encoding" if name.endswith(("latin1.toml", "binary_garbage.toml")) else "specs"
    raise KeyError(f"no family for {name}")


def _tag(family: str, cases: list) -> list:
    """Record the family of each of ``cases`` in :data:`FAMILY_OF`; returns ``cases``."""
    for case in cases:
        FAMILY_OF[case[0]] = family
    return cases


PP_HEADER = "gemeente,arm,outcome,estimate,se\n"
CASES += _tag("paths", [  # codes that become file names
    ("estimates/outcome_dotdot.csv", "estimates", "reject", "2", "outcome",
     "'../../escaped' is not a valid code", PP_HEADER + "groningen,zelf_in_actie,../../escaped,0.02,0.01\n"),
    ("estimates/outcome_absolute.csv", "estimates", "reject", "2", "outcome",
     "'/tmp/bb-escaped' is not a valid code", PP_HEADER + "groningen,zelf_in_actie,/tmp/bb-escaped,0.02,0.01\n"),
    ("estimates/outcome_dot_only.csv", "estimates", "reject", "2", "outcome",
     "'..' is not a valid code", PP_HEADER + "groningen,zelf_in_actie,..,0.02,0.01\n"),
    ("estimates/outcome_internal_job_name.csv", "estimates", "reject", "3", "outcome",
     "'work_gt12h.pooling-none' is not a valid code",
     PP_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,0.01\n"
     "nijmegen,zelf_in_actie,work_gt12h.pooling-none,0.03,0.01\n"),
    ("estimates/outcome_300_chars.csv", "estimates", "reject", "2", "outcome",
     "code is 300 characters long (at most 64)",
     PP_HEADER + "groningen,zelf_in_actie," + "a" * 300 + ",0.02,0.01\n"),
    ("estimates/outcome_backslash.csv", "estimates", "reject", "2", "outcome",
     "is not a valid code", PP_HEADER + "groningen,zelf_in_actie,..\\..\\x,0.02,0.01\n"),
    ("estimates/outcome_nul_byte.csv", "estimates", "reject", "", "", "binary",
     (PP_HEADER + "groningen,zelf_in_actie,work\x00gt12h,0.02,0.01\n").encode("utf-8")),
    ("estimates/outcome_case_collision.csv", "estimates", "reject", "3", "outcome",
     "differs from 'work_gt12h' (row 2) only in upper/lower case",
     PP_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,0.01\n"
     "nijmegen,zelf_in_actie,WORK_GT12H,0.03,0.01\n"),
    ("estimates/gemeente_slash.csv", "estimates", "reject", "2", "gemeente",
     "'../groningen' is not a valid code", PP_HEADER + "../groningen,zelf_in_actie,work_gt12h,0.02,0.01\n"),
    ("estimates/outcome_tilde_home.csv", "estimates", "reject", "2", "outcome",
     "'~root' is not a valid code", PP_HEADER + "groningen,zelf_in_actie,~root,0.02,0.01\n"),
])
CASES += _tag("names", [  # codes drawn in figures and written in tables
    ("estimates/arm_mathtext.csv", "estimates", "reject", "2", "arm",
     "is not a valid code", PP_HEADER + "groningen,$\\frac{1}{0}$,work_gt12h,0.02,0.01\n"),
    ("estimates/gemeente_mathtext.csv", "estimates", "reject", "2", "gemeente",
     "is not a valid code", PP_HEADER + "$\\frac{a,zelf_in_actie,work_gt12h,0.02,0.01\n"),
    ("estimates/outcome_with_space.csv", "estimates", "reject", "2", "outcome",
     "'work gt12h' is not a valid code", PP_HEADER + "groningen,zelf_in_actie,work gt12h,0.02,0.01\n"),
    ("estimates/gemeente_html.csv", "estimates", "reject", "2", "gemeente",
     "is not a valid code", PP_HEADER + "<script>alert(1)</script>,zelf_in_actie,work_gt12h,0.02,0.01\n"),
    ("estimates/arm_zero_width_space.csv", "estimates", "reject", "2", "arm",
     "is not a valid code", PP_HEADER + "groningen,zelf_in_actie\u200b,work_gt12h,0.02,0.01\n"),
    ("accepted/estimates_unicode_codes.csv", "estimates", "accept", "", "", "",
     PP_HEADER + "súdwest_fryslân,zelf_in_actie,work_gt12h,0.02,0.01\n"
     "den-haag,zelf_in_actie+werken_loont,work_gt12h,0.03,0.01\n"),
])
CASES += _tag("numeric", [  # numeric extremes, parsing tricks and scale domains
    ("estimates/se_1e-300.csv", "estimates", "reject", "2", "se",
     "below the smallest plausible standard error", PP_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,1e-300\n"),
    ("estimates/se_1e-12.csv", "estimates", "reject", "3", "se",
     "below the smallest plausible standard error",
     PP_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,0.01\nnijmegen,zelf_in_actie,work_gt12h,0.03,1e-12\n"),
    ("estimates/ci_zero_width.csv", "estimates", "reject", "2", "ci_high", "zero width",
     "gemeente,arm,outcome,estimate,ci_low,ci_high\ngroningen,zelf_in_actie,work_gt12h,0.02,0.02,0.02\n"),
    ("estimates/percent_sign_on_proportion.csv", "estimates", "reject", "2", "estimate",
     "'2%' has a percent sign but the row's scale is 'proportion'",
     "gemeente,arm,outcome,scale,estimate,se\ngroningen,zelf_in_actie,work_gt12h,proportion,2%,3%\n"),
    ("estimates/percent_sign_no_scale.csv", "estimates", "reject", "2", "estimate",
     "has a percent sign but the row's scale is 'proportion'",
     PP_HEADER + "groningen,zelf_in_actie,work_gt12h,2%,3%\n"),
    ("estimates/underscore_number.csv", "estimates", "reject", "2", "estimate",
     "'0_02' is not a number", PP_HEADER + "groningen,zelf_in_actie,work_gt12h,0_02,0.01\n"),
    ("estimates/hex_number.csv", "estimates", "reject", "2", "se",
     "'0x1p-3' is not a number", PP_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,0x1p-3\n"),
    ("estimates/infinity_word.csv", "estimates", "reject", "2", "se",
     "'Infinity' is not a finite number", PP_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,Infinity\n"),
    ("estimates/thousands_separator.csv", "estimates", "reject", "2", "n_treatment",
     "'1,000' is ambiguous",
     "gemeente,arm,outcome,estimate,n_treatment,n_control\ngroningen,zelf_in_actie,work_gt12h,0.02,\"1,000\",900\n"),
    ("estimates/risk_difference_9e6.csv", "estimates", "reject", "2", "estimate",
     "9e+06 is impossible on scale 'proportion'",
     PP_HEADER + "groningen,zelf_in_actie,work_gt12h,9000000,0.01\n"),
    ("estimates/percentage_points_no_scale.csv", "estimates", "reject", "2", "estimate",
     "percentage points? declare scale = percent",
     PP_HEADER + "groningen,zelf_in_actie,work_gt12h,3.1,1.5\nnijmegen,zelf_in_actie,work_gt12h,2.0,1.1\n"),
    ("estimates/se_above_one_proportion.csv", "estimates", "reject", "2", "se",
     "se 1.5 is impossible on scale 'proportion'",
     PP_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,1.5\n"),
    ("estimates/ci_beyond_one.csv", "estimates", "reject", "2", "ci_high",
     "1.5 is impossible on scale 'proportion'",
     "gemeente,arm,outcome,estimate,ci_low,ci_high\ngroningen,zelf_in_actie,work_gt12h,0.2,-0.1,1.5\n"),
    ("estimates/percent_above_100.csv", "estimates", "reject", "2", "estimate",
     "150 is impossible on scale 'percent'",
     "gemeente,arm,outcome,scale,estimate,se\ngroningen,zelf_in_actie,work_gt12h,percent,150,2\n"),
    ("estimates/odds_ratio_negative.csv", "estimates", "reject", "2", "estimate",
     "is impossible on scale 'odds_ratio': an odds ratio is positive",
     "gemeente,arm,outcome,scale,estimate,se,control_mean\ngroningen,zelf_in_actie,work_gt12h,odds_ratio,-1.2,0.1,0.3\n"),
    ("estimates/score_se_1e-12.csv", "estimates", "reject", "2", "se",
     "below the smallest plausible standard error",
     PP_HEADER + "groningen,zelf_in_actie,social_trust,0.1,1e-12\n"),
    ("accepted/estimates_percent_declared.csv", "estimates", "accept", "", "", "",
     "gemeente,arm,outcome,scale,estimate,se\ngroningen,zelf_in_actie,work_gt12h,percent,3.1,1.5\n"
     "nijmegen,zelf_in_actie,work_gt12h,percent,2.0%,1.1%\n"),
    ("accepted/estimates_unicode_minus.csv", "estimates", "accept", "", "", "",
     PP_HEADER + "groningen,zelf_in_actie,work_gt12h,\u22120.02,0.01\nnijmegen,zelf_in_actie,work_gt12h,0.03,0.015\n"),
    ("accepted/estimates_large_rd_warning.csv", "estimates", "accept", "2", "estimate",
     "read as a risk difference of 80 percentage points",
     PP_HEADER + "groningen,zelf_in_actie,work_gt12h,0.8,0.3\nnijmegen,zelf_in_actie,work_gt12h,0.03,0.015\n"),
])
CASES += _tag("encoding", [
    ("estimates/utf16.csv", "estimates", "reject", "", "", "binary",
     (PP_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,0.01\n").encode("utf-16")),
    ("estimates/gzip_renamed.csv", "estimates", "reject", "", "", "binary",
     b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(32)),
    ("estimates/escape_sequences.csv", "estimates", "reject", "", "", "binary control characters",
     PP_HEADER + "groningen,zelf_in_actie,work_gt12h,0.02,0.01\x1b[2J\x1b[31m\n"),
    ("accepted/estimates_cp1252_quotes.csv", "estimates", "accept", "", "", "",
     ("gemeente,arm,outcome,estimate,se,notes\ngroningen,zelf_in_actie,work_gt12h,0.02,0.01,"
      "\u201cquoted\u201d \u2013 dash\nnijmegen,zelf_in_actie,work_gt12h,0.03,0.015,ok\n").encode("cp1252")),
])
CASES += _tag("specs", [  # prior domains and typos that would replace a safety default
    ("specs/prior_1e308.toml", "spec", "reject", "2", "priors.binary.mu_sd",
     "must be between 0.0001 and 1 on the risk difference scale, got 1e+308",
     "[priors.binary]\nmu_sd = 1e308\n"),
    ("specs/prior_1e-300.toml", "spec", "reject", "3", "priors.binary.tau_sd",
     "must be between 0.0001 and 1", "[priors.binary]\nmu_sd = 0.1\ntau_sd = 1e-300\n"),
    ("specs/score_prior_huge.toml", "spec", "reject", "2", "priors.score.mu_sd",
     "must be between 0.0001 and 10 on the SMD scale", "[priors.score]\nmu_sd = 1e6\n"),
    ("specs/binary_mid_beyond_one.toml", "spec", "reject", "2", "priors.binary.mid",
     "must be between -1 and 1", "[priors.binary]\nmid = 2.0\n"),
    ("specs/bias_huge.toml", "spec", "reject", "2", "bias.non_randomised",
     "must be between 0.0001 and 10", "[bias]\nnon_randomised = 1e6\n"),
    ("specs/lkj_eta_huge.toml", "spec", "reject", "2", "priors.score.lkj_eta",
     "must be between 0.001 and 1000", "[priors.score]\nlkj_eta = 1e9\n"),
    ("specs/spillover_huge.toml", "spec", "reject", "2", "pooling.offer_spillover_sd",
     "must be between 0 and 1", "[pooling]\noffer_spillover_sd = 5.0\n"),
    ("specs/exclude_quality_typo.toml", "spec", "reject", "2", "select.exclude_quality",
     "unknown quality flag 'garbeld' (did you mean 'garbled'?)",
     "[select]\nexclude_quality = [\"garbeld\"]\n"),
    ("specs/select_outcomes_nothing.toml", "spec", "reject", "2", "select.outcomes",
     "'work_gt12' has no rows in the evidence (did you mean 'work_gt12h'?)",
     "[select]\noutcomes = [\"work_gt12\"]\n"),
    ("specs/r2_beta_huge.toml", "spec", "reject", "3", "covariate_adjustment.r2_beta",
     "must be between 0.001 and 10000",
     "[covariate_adjustment]\nr2_alpha = 2.0\nr2_beta = 1e300\n"),
])


def main() -> None:
    for sub in ("estimates", "microdata", "specs", "accepted"):
        d = HERE / sub
        d.mkdir(exist_ok=True)
        for f in d.iterdir():
            f.unlink()
    with open(HERE / "MANIFEST.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["file", "kind", "expect", "row", "field", "fragment", "family"])
        for name, kind, expect, row, field, fragment, content in CASES:
            data = content if isinstance(content, bytes) else content.encode("utf-8")
            (HERE / name).write_bytes(data)
            w.writerow([name, kind, expect, row, field, fragment, family_of(name)])


if __name__ == "__main__":
    main()
