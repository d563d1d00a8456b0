// Element module: the mcvd element logic (filled in by issue 3).
