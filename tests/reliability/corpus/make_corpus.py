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


def main() -> None:
    for sub in ("estimates", "microdata", "specs", "accepted"):
        d = HERE / sub
        d.mkdir(exist_ok=True)
        for f in d.iterdir():
            f.unlink()
    with open(HERE / "MANIFEST.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["file", "kind", "expect", "row", "field", "fragment"])
        for name, kind, expect, row, field, fragment, content in CASES:
            data = content if isinstance(content, bytes) else content.encode("utf-8")
            (HERE / name).write_bytes(data)
            w.writerow([name, kind, expect, row, field, fragment])


if __name__ == "__main__":
    main()
