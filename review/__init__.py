"""Contract review: CUAD clause detection, key terms, playbooks, reports."""
from review.clauses import ClauseMatch, detect_clauses
from review.playbook import Playbook, load_playbook
from review.service import Review, review_document, review_file
from review.taxonomy import CATEGORIES, CATEGORY_NAMES

__all__ = [
    "CATEGORIES", "CATEGORY_NAMES", "ClauseMatch", "Playbook", "Review", "detect_clauses", "load_playbook",
    "review_document", "review_file",
]
