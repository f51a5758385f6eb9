def scrub_text(text): return text, []
