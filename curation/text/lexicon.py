"""The report lexicon: findings, anatomy, devices and modality terms (written for medharvest).

Every term belongs to one :class:`Concept`. A finding concept says which ChestX-ray14 findings and
which CheXpert observations it is evidence for (possibly none: e.g. ``granuloma`` only makes a
report abnormal, so it blocks "No Finding"). Terms are lower-case phrases, matched on the token
``LOWER`` attribute (no lemmatiser in ``spacy.blank("en")``); :func:`variants` adds the plural and
spelling variants, so only the base form is listed here.

Besides phrases there are a few patterns with a gap (:data:`GAP_PATTERNS`), e.g. "the heart is
mildly enlarged" or "heart size is normal"; the words inside such a span that negate it (``not``, ``normal`` ...) are listed in :data:`INTERNAL_NEGATION`.
"""

from __future__ import annotations

from dataclasses import dataclass

FINDING, ANATOMY, DEVICE, MODALITY = "FINDING", "ANATOMY", "DEVICE", "MODALITY"
KINDS = (FINDING, ANATOMY, DEVICE, MODALITY)


@dataclass(frozen=True)
class Concept:
    key: str
    kind: str
    nih: tuple[str, ...] = ()
    chexpert: tuple[str, ...] = ()
    #: a positive mention makes the report abnormal ("No Finding" is then not positive)
    abnormal: bool = True
    terms: tuple[str, ...] = ()


def _c(key, nih=(), chexpert=(), terms="", *, kind=FINDING, abnormal=True) -> Concept:
    if isinstance(nih, str):
        nih = (nih,)
    if isinstance(chexpert, str):
        chexpert = (chexpert,)
    phrases = tuple(t.strip() for t in terms.split("|") if t.strip())
    return Concept(key, kind, tuple(nih), tuple(chexpert), abnormal, phrases)


# --- findings -------------------------------------------------------------------------------
FINDINGS: tuple[Concept, ...] = (
    _c("atelectasis", "Atelectasis", "Atelectasis",
       "atelectasis|atelectases|atelectatic|atelectatic change|atelectatic scarring|"
       "platelike atelectasis|plate-like atelectasis|lobar collapse|lung collapse|collapsed lung|"
       "segmental collapse|subsegmental collapse|collapse of the left lower lobe|"
       "collapse of the right lower lobe|collapse of the lung|lobe collapse"),
    _c("cardiomegaly", "Cardiomegaly", "Cardiomegaly",
       "cardiomegaly|enlarged heart|cardiac enlargement|heart enlargement|enlarged cardiac silhouette|"
       "enlarged cardiac shadow|enlarged heart size|enlarged cardiac size|increased heart size|"
       "increased cardiac size|enlargement of the heart|enlargement of the cardiac silhouette|"
       "cardiac silhouette enlargement|prominent cardiac silhouette|enlarged cardiac contour|"
       "cardiomegally|cardiac megaly|enlarged left ventricle|left ventricular enlargement|"
       "biventricular enlargement|cardiomyopathy|borderline heart size|borderline cardiac size|"
       "borderline cardiomegaly|borderline enlarged heart|borderline cardiac enlargement"),
    _c("enlarged_cardiomediastinum", (), "Enlarged Cardiomediastinum",
       "enlarged cardiomediastinal silhouette|widened mediastinum|mediastinal widening|"
       "widening of the mediastinum|enlarged mediastinum|mediastinal enlargement|"
       "enlarged cardiomediastinal contour|widened cardiomediastinal silhouette|"
       "prominent mediastinum|mediastinal prominence|enlarged mediastinal silhouette|"
       "widened superior mediastinum"),
    _c("effusion", "Effusion", "Pleural Effusion",
       "pleural effusion|effusion|pleural fluid|hydrothorax|fluid in the pleural space|"
       "loculated effusion|subpulmonic effusion|fluid within the fissure|fluid in the fissure|"
       "fluid in the minor fissure|pleural collection|hemothorax"),
    _c("hydropneumothorax", ("Effusion", "Pneumothorax"), ("Pleural Effusion", "Pneumothorax"),
       "hydropneumothorax|hydro-pneumothorax"),
    _c("infiltrate", "Infiltration", "Lung Opacity",
       "infiltrate|infiltration|infiltrative|infiltrative process|infiltrative change|"
       "airspace infiltrate|interstitial infiltrate"),
    _c("opacity", (), "Lung Opacity",
       "opacity|opacification|opacified|airspace disease|air space disease|air-space disease|"
       "airspace opacity|airspace process|density|increased density|haziness|hazy opacity|"
       "interstitial marking|interstitial prominence|interstitial opacity|interstitial pattern|"
       "interstitial change|interstitial lung disease|interstitial disease|reticular pattern|"
       "reticular opacity|reticulation|reticulonodular|reticulonodular opacity|"
       "increased lung markings|increased interstitial markings|ground-glass|ground glass|"
       "groundglass|peribronchial thickening|bronchial wall thickening|peribronchial cuffing|"
       "parenchymal scarring|scarring|scar|cicatrix|fibronodular|streaky opacity|"
       "bronchovascular crowding|airspace"),
    _c("mass", "Mass", "Lung Lesion",
       "mass|mass lesion|tumor|tumour|hilar mass|mediastinal mass|lung mass|pulmonary mass|"
       "bronchogenic carcinoma|soft tissue mass"),
    _c("nodule", "Nodule", "Lung Lesion",
       "nodule|nodular opacity|nodular density|nodular opacification|pulmonary nodule|"
       "lung nodule|micronodule|micronodular|nodular|noncalcified nodule|non-calcified nodule|"
       "nodular lesion|nodular focus|nodular foci"),
    _c("lesion", (), "Lung Lesion",
       "lung lesion|pulmonary lesion|cavitary lesion|cavitation|cavity|cavitary|lesion|"
       "metastasis|metastatic disease|metastases|neoplasm|carcinoma|malignancy|lung cancer|"
       "cancer|masslike|mass-like|mass-like opacity|masslike opacity|neoplastic"),
    _c("pneumonia", "Pneumonia", "Pneumonia",
       "pneumonia|pneumonitis|bronchopneumonia|infectious infiltrate|aspiration pneumonia|"
       "lobar pneumonia|pneumonic"),
    # "infection" is Pneumonia for the CheXpert labeler; ChestX-ray14 coders keep it apart
    _c("infection", (), "Pneumonia", "infection|infectious process|infectious etiology|infectious"),
    _c("pneumothorax", "Pneumothorax", "Pneumothorax",
       "pneumothorax|pneumothoraces|ptx|pneumothoraxes|apical pneumothorax"),
    _c("consolidation", "Consolidation", "Consolidation",
       "consolidation|consolidative|consolidated|consolidative opacity|airspace consolidation|"
       "air space consolidation|lobar consolidation|consolidative process"),
    _c("edema", "Edema", "Edema",
       "edema|oedema|pulmonary edema|interstitial edema|alveolar edema|pulmonary oedema|"
       "fluid overload|volume overload|interstitial pulmonary edema"),
    _c("congestion", (), "Edema",
       "vascular congestion|pulmonary vascular congestion|pulmonary congestion|congestion|"
       "cephalization|pulmonary venous hypertension|venous congestion|congestive heart failure|"
       "heart failure|chf|vascular engorgement|vascular redistribution|kerley b lines|"
       "kerley lines|vascular prominence|prominent pulmonary vasculature|septal lines"),
    _c("emphysema", "Emphysema", (),
       "emphysema|emphysematous|emphysematous change|pulmonary emphysema|bullous emphysema|"
       "centrilobular emphysema|paraseptal emphysema|panlobular emphysema"),
    _c("fibrosis", "Fibrosis", (),
       "fibrosis|fibrotic|fibrotic change|pulmonary fibrosis|interstitial fibrosis|"
       "fibrotic scarring|usual interstitial pneumonia|fibrocystic change|honeycombing"),
    _c("pleural_thickening", "Pleural_Thickening", "Pleural Other",
       "pleural thickening|thickening of the pleura|pleural-based thickening|pleural based thickening|"
       "pleural parenchymal thickening|pleural-parenchymal thickening|pleuroparenchymal thickening|"
       "apical thickening|apical pleural thickening|biapical thickening|biapical pleural thickening|"
       "apical capping|pleural thickenings|pleural plaque|calcified pleural plaque|"
       "thickened pleura|pleural reaction|thickening of the fissure|fissural thickening|"
       "thickened fissure|thickening of the minor fissure|thickening of the major fissure"),
    _c("pleural_other", (), "Pleural Other",
       "pleural scarring|pleural scar|pleural-parenchymal scarring|pleural parenchymal scarring|"
       "pleuroparenchymal scarring|pleural calcification|fibrothorax|pleural-based opacity|"
       "pleural based opacity|pleural abnormality"),
    _c("hernia", "Hernia", (),
       "hernia|hiatal hernia|hiatus hernia|diaphragmatic hernia|paraesophageal hernia|"
       "morgagni hernia|bochdalek hernia|herniation"),
    _c("fracture", (), "Fracture",
       "fracture|fractured|fx|rib fracture|compression fracture|compression deformity|"
       "healed fracture|healing fracture|nondisplaced fracture|displaced fracture|"
       "vertebral body height loss|loss of vertebral body height|callus formation"),
    # other abnormalities: they keep a report from being "No Finding" (CheXpert convention)
    _c("granuloma", terms="granuloma|granulomas|calcified granuloma|granulomatous disease|"
       "granulomatous change|granulomatous calcification|calcified lymph node|"
       "calcified node|healed granulomatous disease|histoplasmosis|calcified hilar lymph node|"
       "granulomatous infection|granulomatous process|prior granulomatous infection|"
       "old granulomatous infection|granulomatous exposure|tuberculosis|tb"),
    _c("calcification", terms="calcification|calcified|calcinosis|calcific density|aortic calcification|"
       "vascular calcification|atherosclerotic calcification|mitral annular calcification"),
    _c("atherosclerosis", terms="atherosclerosis|atherosclerotic|atherosclerotic disease|"
       "atheromatous|tortuous aorta|tortuosity|aortic tortuosity|ectatic aorta|ectasia|"
       "unfolded aorta|unfolding of the aorta|aortic ectasia|aneurysm|aortic aneurysm|"
       "dilated aorta|aortic dilatation|aortic dilation|aortic enlargement|prominent aorta"),
    _c("copd", terms="copd|chronic obstructive pulmonary disease|chronic obstructive lung disease|"
       "hyperinflation|hyperinflated|hyperexpanded|hyperexpansion|overinflation|overinflated|"
       "hyperaeration|hyperaerated|hyperlucent|hyperlucency|flattened diaphragms|"
       "flattening of the diaphragms|flattened hemidiaphragms|bulla|bullae|bullous|bleb|blebs|"
       "chronic lung disease|reactive airways disease|airways disease|asthma|bronchitis|"
       "bronchiectasis|bronchiolitis|chronic changes|chronic interstitial changes"),
    _c("spine", terms="degenerative change|degenerative disease|degenerative joint disease|"
       "degenerative disc disease|degenerative changes|spondylosis|osteophyte|osteophytes|"
       "osteophytosis|spurring|scoliosis|kyphosis|kyphotic|scoliotic|dextroscoliosis|"
       "levoscoliosis|dextroconvex|levoconvex|arthritis|arthritic|arthropathy|osteoarthritis|"
       "dish|diffuse idiopathic skeletal hyperostosis|enthesopathy|syndesmophyte|"
       "spondylitic|degenerative|spondylitis|wedging"),
    _c("bone", terms="osteopenia|osteopenic|osteoporosis|demineralization|sclerotic lesion|"
       "lytic lesion|sclerosis|bone island|deformity|deformities|dislocation|"
       "pectus excavatum|pectus carinatum|pectus deformity|bone lesion|healed rib fracture|"
       "old fracture|remote fracture|cervical rib"),
    _c("diaphragm", terms="elevated hemidiaphragm|elevation of the hemidiaphragm|"
       "elevation of the right hemidiaphragm|elevation of the left hemidiaphragm|"
       "hemidiaphragm elevation|diaphragmatic elevation|eventration|diaphragmatic eventration|"
       "blunting|blunted|blunting of the costophrenic angle|blunting of the costophrenic angles|"
       "tenting|diaphragmatic paralysis"),
    _c("volume_loss", terms="volume loss|loss of volume|low lung volumes|low lung volume|"
       "decreased lung volumes|hypoinflation|hypoventilation|poor inspiration|"
       "shift of the mediastinum|mediastinal shift|tracheal deviation"),
    _c("other_thoracic", terms="pericardial effusion|pneumomediastinum|pneumoperitoneum|"
       "free air|free intraperitoneal air|subcutaneous emphysema|subcutaneous air|"
       "soft tissue emphysema|lymphadenopathy|adenopathy|hilar adenopathy|"
       "mediastinal adenopathy|enlarged lymph node|enlarged lymph nodes|hilar enlargement|"
       "enlarged hila|enlarged hilum|hilar prominence|prominent hila|pulmonary hypertension|"
       "pulmonary arterial hypertension|enlarged pulmonary artery|enlarged pulmonary arteries|"
       "aspiration|hemorrhage|hematoma|contusion|foreign body|foreign bodies|radiopaque|"
       "bullet|shrapnel|cyst|cystic change|thymoma|goiter|thyroid enlargement|thyroid mass|"
       "breast mass|neck mass|abdominal mass|pelvic mass|"
       "air-fluid level|air fluid level|tracheal narrowing|tortuous trachea|"
       "hyperdensity|lucency|lucencies|abnormality|abnormalities|thickening|mass effect|"
       "skin lesion|skin lesions|joint effusion|soft tissue edema|soft tissue swelling"),
)

# --- anatomy, devices, modality --------------------------------------------------------------
ANATOMY_TERMS = (
    "lung|lungs|right lung|left lung|both lungs|lung base|lung bases|lung apex|lung apices|apex|"
    "apices|base|bases|upper lobe|middle lobe|lower lobe|right upper lobe|right middle lobe|"
    "right lower lobe|left upper lobe|left lower lobe|lingula|lingular|hilum|hila|hilar|"
    "perihilar|mediastinum|mediastinal|cardiomediastinal silhouette|mediastinal contour|"
    "mediastinal contours|heart|heart size|cardiac silhouette|cardiac shadow|cardiac contour|"
    "cardiac size|cardiac|pericardium|aorta|aortic arch|aortic knob|thoracic aorta|"
    "descending aorta|pulmonary artery|pulmonary arteries|pulmonary vasculature|"
    "pulmonary vascularity|vasculature|costophrenic angle|costophrenic angles|costophrenic sulcus|"
    "hemidiaphragm|hemidiaphragms|diaphragm|diaphragms|pleura|pleural space|pleural surfaces|"
    "fissure|minor fissure|major fissure|trachea|carina|bronchus|bronchi|airway|airways|"
    "rib|ribs|spine|thoracic spine|cervical spine|lumbar spine|vertebra|vertebrae|"
    "vertebral body|vertebral bodies|clavicle|clavicles|sternum|scapula|shoulder|shoulders|"
    "humerus|soft tissues|soft tissue|bony structures|osseous structures|bones|thorax|chest|"
    "chest wall|upper abdomen|stomach|gastric bubble|bowel|liver|azygos|retrocardiac|"
    "bibasilar|basilar|apical|subpleural|parenchyma|lung parenchyma|lung fields|lung zones|"
    "interstitium|alveoli|breast|breasts|axilla|neck|thyroid"
)
DEVICE_TERMS = (
    "pacemaker|pacer|dual-chamber pacemaker|defibrillator|aicd|icd|cardiac device|"
    "pacemaker leads|pacer leads|pacing leads|pacing wires|leads|sternotomy|median sternotomy|"
    "sternotomy wires|sternal wires|sternal sutures|cerclage wires|endotracheal tube|et tube|ett|"
    "tracheostomy|tracheostomy tube|trach|nasogastric tube|ng tube|og tube|orogastric tube|"
    "feeding tube|dobhoff|dobhoff tube|enteric tube|gastric tube|chest tube|chest tubes|"
    "thoracostomy tube|pleural catheter|pigtail catheter|catheter|catheters|central line|"
    "central venous catheter|central venous line|picc|picc line|port|port-a-cath|portacath|"
    "infusion port|dialysis catheter|swan-ganz|swan-ganz catheter|pulmonary artery catheter|"
    "central venous line|ij line|ij catheter|internal jugular catheter|internal jugular line|"
    "subclavian line|subclavian catheter|tube|tubes|drain|drains|stent|stents|clip|clips|surgical clips|"
    "surgical clip|staples|surgical staples|suture|sutures|prosthesis|prosthetic valve|"
    "valve replacement|valve prosthesis|annuloplasty ring|lvad|impella|iabp|balloon pump|"
    "hardware|orthopedic hardware|spinal hardware|fusion hardware|screws|fixation plate|rods|"
    "fixation|cabg|coronary artery bypass graft|bypass graft|electrodes|ekg leads|"
    "monitoring leads|loop recorder|implanted device|medical device|device|breast implant|"
    "breast implants|vp shunt|shunt|cervical fusion|spinal fusion|arthroplasty|"
    "shoulder arthroplasty|kyphoplasty|vertebroplasty|cement|embolization coils|coils|"
    "filter|ivc filter|gastric band|lap band"
)
MODALITY_TERMS = (
    "x-ray|x-rays|xray|xrays|radiograph|radiographs|radiography|chest x-ray|chest radiograph|"
    "chest film|film|films|cxr|pa|ap|lateral|frontal|portable|upright|supine|decubitus|"
    "oblique|view|views|ct|cta|computed tomography|ct scan|mri|mr|magnetic resonance|ultrasound|"
    "sonography|pet|pet/ct|fluoroscopy|mammogram|mammography|nuclear medicine|"
    "tomography|spect|echocardiogram|angiography|dicom"
)

OTHER: tuple[Concept, ...] = (
    _c("anatomy", terms=ANATOMY_TERMS, kind=ANATOMY, abnormal=False),
    _c("device", (), "Support Devices", DEVICE_TERMS, kind=DEVICE, abnormal=False),
    _c("modality", terms=MODALITY_TERMS, kind=MODALITY, abnormal=False),
)

CONCEPTS: dict[str, Concept] = {c.key: c for c in FINDINGS + OTHER}

# --- token patterns for constructions with a gap ---------------------------------------------
_HEART = ["heart", "cardiac", "cardiomediastinal", "cardiopericardial"]
_HEART_NOUN = ["silhouette", "shadow", "contour", "contours", "size", "silhouettes", "dimensions"]
_FILLER = [
    "is", "are", "appears", "appear", "remains", "remain", "again", "was", "were", "seems",
    "be", "to", "has", "been", "now", "still", "mildly", "moderately", "markedly", "severely",
    "slightly", "minimally", "stably", "stable", "and", "size", "the", "at", "upper", "limits",
    "limit", "of", "top", "within", "not", "likely", "probably", "grossly", "somewhat", "overall",
    "in", "mediastinal", "mediastinum", "contour", "contours", "silhouette", "again", "also",
    "borderline", "mild", "moderate", "slight", "xxxx", "unchanged", "persistently",
]
_ENLARGED = ["enlarged", "large", "enlargement", "increased", "prominent", "cardiomegaly"]
_NORMAL = ["normal", "unremarkable", "nl", "wnl", "small"]


@dataclass(frozen=True)
class GapPattern:
    """``first [second?] filler{0,max_fill} last [tail?]`` over lower-case token texts."""

    concept: str
    first: frozenset[str]
    last: frozenset[str]
    second: frozenset[str] = frozenset()
    filler: frozenset[str] = frozenset()
    max_fill: int = 6
    tail: frozenset[str] = frozenset()


_f = frozenset
#: Constructions with a gap, matched besides the phrases ("the heart is mildly enlarged").
GAP_PATTERNS: tuple[GapPattern, ...] = (
    GapPattern("cardiomegaly", _f(_HEART), _f(_ENLARGED), _f(_HEART_NOUN), _f(_FILLER)),
    GapPattern("cardiomegaly", _f(_HEART), _f(_NORMAL), _f(_HEART_NOUN), _f(_FILLER)),
    GapPattern("cardiomegaly", _f({"normal", "normal-sized", "unremarkable"}), _f({"heart", "cardiac"}),
               filler=_f({"-", "sized"}), max_fill=2, tail=_f(_HEART_NOUN)),
    GapPattern("cardiomegaly", _f({"mildly", "moderately", "markedly", "slightly", "severely"}),
               _f({"heart", "cardiac"}), _f({"enlarged"}), max_fill=0, tail=_f(_HEART_NOUN)),
)

#: Words inside a token-pattern span that make the span a negative mention ("heart size is normal").
INTERNAL_NEGATION = frozenset({"not", "normal", "unremarkable", "nl", "wnl", "normal-sized", "small"})
#: ... unless one of these is also inside ("borderline enlarged"; "upper limits of normal" stays normal).
INTERNAL_BORDERLINE = frozenset({"borderline"})


def _plural(word: str) -> list[str]:
    if word.endswith("sis"):
        return [word[:-3] + "ses"]
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        return [word[:-1] + "ies"]
    if word.endswith(("s", "x", "ed", "ic", "al", "ous", "ive", "ar", "ing", "ly", "y")):
        return []
    if word.endswith("ma"):
        return [word + "s", word + "ta"]
    if word.endswith(("ch", "sh")):
        return [word + "es"]
    return [word + "s"]


def variants(term: str) -> list[str]:
    """The term, its plural (last word inflected) and its hyphen/space/solid spellings."""
    out = [term]
    head, _, last = term.rpartition(" ")
    for p in _plural(last):
        out.append(f"{head} {p}" if head else p)
    more = []
    for t in out:
        if "-" in t:
            more.append(t.replace("-", " "))
            more.append(t.replace("-", ""))
    out.extend(more)
    return list(dict.fromkeys(out))


def phrase_patterns() -> dict[str, list[str]]:
    """``{"KIND|concept": [phrase, ...]}`` with every variant of every term."""
    out: dict[str, list[str]] = {}
    for concept in CONCEPTS.values():
        key = f"{concept.kind}|{concept.key}"
        out[key] = list(dict.fromkeys(v for term in concept.terms for v in variants(term)))
    return out
