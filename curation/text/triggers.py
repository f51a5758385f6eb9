"""Negation, uncertainty, scope-termination and pseudo-trigger phrases (written for medharvest).

Trigger kinds (the scope rules live in :mod:`curation.text.context`):

* ``NEG_PRE`` / ``UNC_PRE``: negate / make uncertain the findings that FOLLOW, up to the end of
  the sentence or a terminator ("No effusion, pneumothorax or consolidation." negates all three).
* ``NEG_POST`` / ``UNC_POST``: act on the findings that PRECEDE them in the sentence
  ("Pneumothorax is not seen.", "Effusion cannot be excluded.").
* ``UNC_BI``: both directions, a few tokens only ("atelectasis versus infiltrate").
* ``TERM``: ends a scope ("No effusion, but there is consolidation."); ``TERM_PRE`` ends only
  the scope of a pre-trigger (a new clause: "No effusion and the heart is enlarged.").
* ``PSEUDO``: looks like a trigger but is none ("no change", "not only"): cancels the triggers it overlaps.

Phrases are lower case and matched on token ``LOWER`` with the same tokenizer as the reports, so
``XXXX`` placeholders may sit between a trigger and its finding ("There are no XXXX of effusion").
"""

from __future__ import annotations

NEG_PRE = (
    "no|not|without|negative for|free of|clear of|absence of|absent|no evidence of|no sign of|"
    "no signs of|no suggestion of|no radiographic evidence of|no findings of|no findings to suggest|"
    "rules out|ruled out|rule out the presence of|no longer|no longer seen|never|"
    "resolution of|resolved|interval resolution of|interval clearing of|clearing of|"
    "removal of|interval removal of|has been removed|without evidence of|without signs of|"
    "nor|neither|none|denies|negative|no definite|no definitive|no convincing|no focal|"
    "no acute|not demonstrate|does not demonstrate|do not demonstrate|fails to demonstrate|"
    "no new|no other|no visible|no significant|no large|no gross|"
    "no obvious|no overt|no frank|no discrete|no suspicious|no residual|no appreciable|"
    "no radiographic|there is no|there are no|there has been no|"
    "unremarkable for|nothing to suggest|no interval development of|no developing"
)
NEG_POST = (
    "is not seen|are not seen|not seen|is not identified|are not identified|not identified|"
    "is not present|are not present|not present|is absent|are absent|absent|has resolved|"
    "have resolved|resolved|has cleared|have cleared|cleared|is no longer seen|"
    "are no longer seen|no longer seen|no longer present|no longer visualized|is not visualized|"
    "are not visualized|not visualized|not demonstrated|is not demonstrated|are not demonstrated|"
    "not appreciated|is not appreciated|are not appreciated|is not evident|are not evident|"
    "not evident|not noted|is not noted|are not noted|not detected|is not detected|"
    "are not detected|not apparent|is not apparent|are not apparent|not visible|is not visible|"
    "are not visible|has been removed|have been removed|removed|is negative|are negative|"
    "is excluded|are excluded|ruled out|is ruled out|are ruled out|not shown|not observed|"
    "is gone|have disappeared|has disappeared|not found"
)
UNC_PRE = (
    "possible|possibly|probable|probably|may|might|could|likely|most likely|more likely|"
    "suspect|suspected|suspicious for|suspicion for|suspicion of|concerning for|concern for|"
    "worrisome for|suggestive of|suggests|suggesting|suggest|question of|questionable|"
    "cannot exclude|can not exclude|cannot rule out|can not rule out|cannot be excluded|"
    "difficult to exclude|not excluded|r/o|rule out|to rule out|evaluate for|evaluation for|"
    "assess for|differential|differential diagnosis|differential includes|equivocal|"
    "indeterminate|uncertain|presumed|presumably|questioned|consider|considered|"
    "raises the possibility of|raising the possibility of|possibility of|may represent|"
    "could represent|may reflect|might represent|may be related to|could be|may be|"
    "cannot be ruled out|not entirely excluded|not completely excluded|favor|favored|"
    "?|vs|versus|or less likely|borderline for|early|"
    "correlate for|correlation for|correlate clinically for|"
    "versus early|perhaps|question|may be secondary to|may be due to|could be due to|"
    "possibly due to|possibly secondary to|likely secondary to|may be related to|"
    "could be secondary to|can be seen with|differential considerations include|includes|include"
)
UNC_POST = (
    "cannot be excluded|can not be excluded|cannot be ruled out|can not be ruled out|"
    "not excluded|is not excluded|are not excluded|not entirely excluded|"
    "not ruled out|is not ruled out|is possible|are possible|is suspected|are suspected|"
    "is questioned|are questioned|is likely|are likely|is probable|are probable|"
    "not clearly excluded|is not entirely excluded|could be|may be|may represent|"
    "could represent|is considered|are considered|is favored|is suggested|are suggested|"
    "difficult to exclude|is difficult to exclude|cannot be completely excluded|"
    "not completely excluded|?|versus|vs|vs.|is uncertain|uncertain|"
    "is questionable|questionable|is equivocal|equivocal|is not entirely excluded"
)
UNC_BI = "versus|vs|vs.|or possibly"
TERM = (
    "but|however|although|though|which|whereas|yet|aside from|apart from|except|except for|"
    "otherwise|other than|secondary to|due to|likely due to|cause of|causing|source of|"
    "origin of|while|with|;|:|and there"
)
#: Clause starts that end a PRE-trigger's scope only ("No effusion and the heart is enlarged").
TERM_PRE = (
    "there is|there are|there has been|is|are|was|were|appears|appear|remains|remain|persists|"
    "persist|has developed|have developed|is seen|are seen|is present|are present|is noted|"
    "are noted|is again seen|are again seen|with interval|in the setting of|has|have|shows|"
    "demonstrates|identified"
)
PSEUDO = (
    "no change|no significant change|no interval change|no substantial change|not changed|"
    "no increase|no significant increase|not only|without change|without significant change|"
    "no definite change|not significantly changed|not necessarily|not certain whether|"
    "not certain if|no further|gram negative|not cause|not rule out|not drain|no acute change|"
    "no new change|without interval change|no appreciable change|not been changed|"
    "not been significantly changed|no longer present change|no worsening|not worsened|"
    "no improvement|not improved|without improvement|not clearly|not well|not as well|"
    "not optimally|not fully|no other change|difficult to exclude|may not|could not|"
    "cannot be|not included|not imaged|not well seen|no prior|no previous|no comparison|"
    "no old|no priors|not available|to suggest|to indicate|to explain|to account for|"
    "that would suggest|to definitely suggest|to suggest a|to suggest an|suggestive of a|"
    "associated with|consistent with|compatible with|in keeping with|along with|together with"
)


def phrases(block: str) -> list[str]:
    return [p.strip() for p in block.split("|") if p.strip()]


KINDS: dict[str, list[str]] = {
    "NEG_PRE": phrases(NEG_PRE),
    "NEG_POST": phrases(NEG_POST),
    "UNC_PRE": phrases(UNC_PRE),
    "UNC_POST": phrases(UNC_POST),
    "UNC_BI": phrases(UNC_BI),
    "TERM": phrases(TERM),
    "TERM_PRE": phrases(TERM_PRE),
    "PSEUDO": phrases(PSEUDO),
}
