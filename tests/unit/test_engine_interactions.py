"""Drug-drug interactions (drugdata/interactions.yaml), QT pairs, and the co-medications of real medication lists."""
import pytest

from tests.unit.clinical import line, patient

MG = "mg"
ADULT = dict(age=50, crcl=90)


# ------------------------------------------------------------------------------------ CYP3A4 and opioids
def test_clarithromycin_with_oxycodone_is_a_warning_citing_the_oxycodone_boxed_warning(check):
    outcome = check(patient(**ADULT, meds=(line("oxycodone", 5, MG, "q6h"),)),
                    line("clarithromycin", 500, MG, "BID", days=10))
    finding = outcome.finding("sedation.interaction.cyp3a4_inhibitor_opioid")
    assert finding.severity == "warning"
    assert set(finding.drugs) == {"oxycodone", "clarithromycin"}
    assert any("Boxed Warning, Cytochrome P450 3A4 Interaction" in e.citation for e in finding.evidence)
    assert "strong" in finding.detail  # the FDA table's strength is said


@pytest.mark.parametrize("inhibitor, severity", [("ketoconazole", "warning"), ("itraconazole", "warning"),
                                                 ("voriconazole", "warning"), ("posaconazole", "warning"),
                                                 ("diltiazem", "info"), ("fluconazole", "info")])
def test_a_strong_cyp3a4_inhibitor_with_hydrocodone_is_a_warning_and_a_moderate_one_a_note(check, inhibitor, severity):
    outcome = check(patient(**ADULT), line("hydrocodone/acetaminophen 5/325", 1, "tablet", "q6h"),
                    line(inhibitor, 100, MG, "daily"))
    assert outcome.severity("sedation.interaction.cyp3a4_inhibitor_opioid") == severity


@pytest.mark.parametrize("inhibitor", ["clarithromycin", "fluconazole", "diltiazem", "paroxetine", "fluvoxamine"])
def test_every_cyp_inhibitor_raises_methadone_levels_a_warning_as_its_label_says(check, inhibitor):
    outcome = check(patient(**ADULT, meds=(line("methadone", 10, MG, "TID"),)), line(inhibitor, 100, MG, "daily"))
    assert outcome.severity("sedation.interaction.cyp_inhibitor_methadone") == "warning"
    assert "sedation.interaction.cyp3a4_inhibitor_opioid" not in outcome.codes()  # one finding, not two


def test_fentanyl_patch_with_a_strong_cyp3a4_inhibitor_is_a_warning_per_its_boxed_warning(check):
    # DURAGESIC Boxed Warning: CYTOCHROME P450 3A4 INTERACTION
    outcome = check(patient(**ADULT, meds=(line("ritonavir", 100, MG, "BID"),)),
                    line("fentanyl", 25, "mcg/h", {"timesPerDay": 1 / 3}, route="transdermal"))
    finding = outcome.finding("sedation.interaction.cyp3a4_inhibitor_opioid")
    assert finding.severity == "warning"
    assert "Not verified against the label text" not in finding.detail


def test_an_opioid_that_cyp3a4_does_not_clear_stays_quiet_with_clarithromycin(check):
    outcome = check(patient(**ADULT), line("morphine", 15, MG, "q12h"), line("clarithromycin", 500, MG, "BID"))
    assert not {c for c in outcome.codes() if ".interaction." in c}


def test_an_azole_shampoo_or_an_erythromycin_eye_ointment_is_not_an_enzyme_inhibitor(check):
    outcome = check(patient(**ADULT, meds=(line("oxycodone", 5, MG, "q6h"),)),
                    line("ketoconazole", route="topical"), line("erythromycin", route="topical"))
    assert not {c for c in outcome.codes() if ".interaction." in c}


def test_rifampin_with_methadone_lowers_methadone_an_opioid_warning(check):
    outcome = check(patient(**ADULT, meds=(line("methadone", 10, MG, "TID"),)), line("rifampin", 600, MG, "daily"))
    assert outcome.severity("opioid.interaction.cyp3a4_inducer_opioid") == "warning"


def test_a_cyp2d6_inhibitor_with_codeine_is_a_note_until_the_codeine_label_is_read(check):
    outcome = check(patient(**ADULT, meds=(line("fluoxetine", 20, MG, "daily"),)), line("codeine", 30, MG, "q6h"))
    assert outcome.severity("opioid.interaction.cyp2d6_inhibitor_prodrug_opioid") == "info"


@pytest.mark.parametrize("inhibitor", ["fluoxetine", "paroxetine", "bupropion"])
def test_a_cyp2d6_inhibitor_with_tramadol_is_a_warning_as_the_tramadol_boxed_warning_says(check, inhibitor):
    outcome = check(patient(**ADULT, meds=(line(inhibitor, 20, MG, "daily"),)), line("tramadol", 50, MG, "q6h"))
    finding = outcome.finding("opioid.interaction.cyp2d6_inhibitor_prodrug_opioid")
    assert finding.severity == "warning"
    assert any("Inhibitors of CYP2D6" in e.citation for e in finding.evidence)
    assert "Not verified" not in finding.detail


# ------------------------------------------------------------------------------------------ MAOIs
@pytest.mark.parametrize("maoi", ["linezolid", "phenelzine", "methylene blue", "isocarboxazid"])
def test_an_maoi_with_tramadol_is_critical(check, maoi):
    outcome = check(patient(**ADULT, meds=(line(maoi, 600, MG, "BID"),)), line("tramadol", 50, MG, "q6h"))
    assert outcome.severity("serotonergic.interaction.maoi_contraindicated_opioid") == "critical"


def test_linezolid_with_meperidine_is_critical(check):
    outcome = check(patient(**ADULT), line("meperidine", 50, MG, "q4h"), line("linezolid", 600, MG, "BID"))
    assert outcome.severity("serotonergic.interaction.maoi_contraindicated_opioid") == "critical"


def test_methadone_with_an_maoi_is_not_recommended_a_warning(check):
    outcome = check(patient(**ADULT, meds=(line("selegiline", 5, MG, "BID"),)), line("methadone", 5, MG, "TID"))
    assert outcome.severity("serotonergic.interaction.maoi_not_recommended_opioid") == "warning"


@pytest.mark.parametrize("opioid, dose, unit, freq, kwargs", [
    ("morphine", 15, MG, "q12h", {}), ("oxycodone", 5, MG, "q6h", {}), ("hydromorphone", 2, MG, "q6h", {}),
    ("fentanyl", 25, "mcg/h", {"timesPerDay": 1 / 3}, {"route": "transdermal"})])
def test_methylene_blue_with_an_opioid_is_a_warning_from_its_boxed_warning(check, opioid, dose, unit, freq, kwargs):
    outcome = check(patient(**ADULT, meds=(line(opioid, dose, unit, freq, **kwargs),)),
                    line("methylene blue", 100, MG, "daily", route="intravenous"))
    finding = outcome.finding("serotonergic.interaction.methylene_blue_opioid")
    assert finding.severity == "warning"
    assert any("label-provayblue" in e.citation or "PROVAYBLUE" in e.citation for e in finding.evidence)


def test_methylene_blue_with_tramadol_is_said_once_by_the_tramadol_contraindication(check):
    outcome = check(patient(**ADULT, meds=(line("tramadol", 50, MG, "q6h"),)),
                    line("methylene blue", 100, MG, "daily", route="intravenous"))
    assert outcome.severity("serotonergic.interaction.maoi_contraindicated_opioid") == "critical"
    assert "serotonergic.interaction.methylene_blue_opioid" not in outcome.codes()


def test_tapentadol_with_an_maoi_is_said_as_unverified_information(check):
    outcome = check(patient(**ADULT, meds=(line("phenelzine", 15, MG, "TID"),)), line("tapentadol", 50, MG, "q6h"))
    assert outcome.severity("serotonergic.interaction.maoi_contraindicated_opioid") == "info"


# ----------------------------------------------------------------------------------- tizanidine and CYP1A2
@pytest.mark.parametrize("inhibitor, dose", [("fluvoxamine", 50), ("ciprofloxacin", 500)])
def test_tizanidine_with_a_strong_cyp1a2_inhibitor_is_critical(check, inhibitor, dose):
    outcome = check(patient(**ADULT, meds=(line(inhibitor, dose, MG, "BID"),)), line("tizanidine", 2, MG, "TID"))
    finding = outcome.finding("sedation.interaction.tizanidine_cyp1a2_inhibitor")
    assert finding.severity == "critical"
    assert finding.suggestions[0]["action"] == "substitute"


def test_tizanidine_with_an_antidepressant_that_spares_cyp1a2_is_quiet_on_interactions(check):
    outcome = check(patient(**ADULT, meds=(line("sertraline", 50, MG, "daily"),)), line("tizanidine", 2, MG, "TID"))
    assert not {c for c in outcome.codes() if ".interaction." in c}


# -------------------------------------------------------------------------------------------------- QT
@pytest.mark.parametrize("partner, dose", [("ondansetron", 4), ("escitalopram", 10), ("haloperidol", 2),
                                           ("ziprasidone", 20)])
def test_methadone_with_a_qt_prolonging_partner_is_a_qt_warning(check, partner, dose):
    outcome = check(patient(**ADULT, meds=(line(partner, dose, MG, "daily"),)), line("methadone", 5, MG, "TID"))
    assert outcome.severity("qt.combination") == "warning"


def test_citalopram_with_ondansetron_is_a_qt_warning(check):
    outcome = check(patient(**ADULT, meds=(line("citalopram", 20, MG, "daily"),)),
                    line("ondansetron", 4, MG, "q8h", prn=True))
    assert outcome.severity("qt.combination") == "warning"


def test_ondansetron_alone_or_with_an_escitalopram_of_lesser_risk_stays_quiet_on_qt(check):
    assert "qt.combination" not in check(patient(**ADULT), line("ondansetron", 4, MG, "q8h", prn=True)).codes()
    outcome = check(patient(**ADULT, meds=(line("escitalopram", 10, MG, "daily"),)),
                    line("ondansetron", 4, MG, "q8h", prn=True))
    assert "qt.combination" not in outcome.codes()  # no partner of known (CredibleMeds 3) risk


# ------------------------------------------------------------------------- co-medications of real lists
def test_sertraline_with_ibuprofen_at_50_says_only_the_known_gi_finding(check):
    outcome = check(patient(**ADULT, meds=(line("sertraline", 50, MG, "daily"),)),
                    line("ibuprofen", 400, MG, "TID", days=5))
    assert outcome.alerts() == {"gi.nsaid_ssri_snri"}


@pytest.mark.parametrize("regimen", [
    [("esomeprazole", 40, "daily")],
    [("rabeprazole", 20, "daily")],
    [("lisinopril", 10, "daily"), ("acetaminophen", 650, "q6h")],
    [("enalapril", 10, "BID"), ("acetaminophen", 500, "q6h")],
    [("valsartan", 80, "daily"), ("chlorthalidone", 25, "daily")],
    [("ondansetron", 4, "q8h")],
    [("promethazine", 25, "qHS")],
    [("cimetidine", 400, "BID")],
])
def test_everyday_co_medications_alone_stay_quiet(check, regimen):
    outcome = check(patient(**ADULT), *[line(drug, dose, MG, freq) for drug, dose, freq in regimen])
    assert outcome.alerts() == set()
    assert not {c for c in outcome.codes() if c.startswith("unresolved.")}


def test_a_ppi_brand_counts_as_gastroprotection_for_an_older_adult_on_an_nsaid(check):
    outcome = check(patient(age=80, crcl=70), line("naproxen", 250, MG, "BID"), line("Nexium", 40, MG, "daily"))
    assert "gi.nsaid_older_adult" not in outcome.alerts()


def test_temazepam_is_a_benzodiazepine_with_an_opioid(check):
    outcome = check(patient(**ADULT, meds=(line("temazepam", 15, MG, "qHS"),)), line("oxycodone", 5, MG, "q6h"))
    assert outcome.severity("sedation.opioid_benzodiazepine") == "critical"


def test_quetiapine_adds_a_strong_anticholinergic_load_in_an_older_adult(check):
    outcome = check(patient(age=78, crcl=60), line("quetiapine", 25, MG, "qHS"))
    assert outcome.severity("anticholinergic.acb_total") == "warning"


# ---------------------------------------------------------------------------------------- governance
def test_every_unverified_interaction_fact_raises_info_at_most(kb, check):
    for row in kb.interactions:
        for target in row.objects:
            perpetrator = (row.groups[0].members[0].ingredient if row.groups and row.groups[0].members
                           else row.perpetrator_facts[0].ingredient if row.perpetrator_facts else "phenelzine")
            outcome = check(patient(**ADULT, meds=(line(perpetrator),)), line(target.ingredient))
            code = f"{row.category}.interaction.{row.key}"
            first = row.groups[0].members[0] if row.groups and row.groups[0].members else None
            moderate = row.severity_moderate and first is not None and first.strength == "moderate"
            expected = "info" if target.unverified else row.severity_moderate if moderate else row.severity
            assert outcome.severity(code) == expected, (row.key, target.ingredient)
