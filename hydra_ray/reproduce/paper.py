"""The Hydra paper's own numbers and statements, transcribed from its text (pure data, no logic).

Only what the paper states: every value here is quoted from a table or a sentence of
``shared/paper/hydra-paper.txt`` (section named beside it). Figures whose values the text does not give
(Fig. 5, 6, 8, 10, 11 are images) are represented by the sentences that describe them.
"""
from __future__ import annotations

# ---- Table II (Sec. VI-A): Efficoder vs GPT-5.4 on HumanEval, common successful tasks N of 163 ---------
# (objective, model, detail, N, runtime before ms, after ms, ratio, memory before MiB, after MiB, ratio)
TABLE2 = [
    ("runtime", "Efficoder", "minimal", 74, 203.338, 215.600, 0.950, 9.864, 10.257, 0.892),
    ("runtime", "GPT-5.4", "minimal", 74, 203.338, 147.616, 1.412, 9.864, 9.865, 1.000),
    ("runtime", "Efficoder", "detailed", 78, 224.098, 202.473, 1.062, 9.094, 9.264, 0.942),
    ("runtime", "GPT-5.4", "detailed", 78, 224.098, 150.931, 1.516, 9.094, 9.105, 0.998),
    ("memory", "Efficoder", "minimal", 70, 208.496, 205.265, 0.950, 10.473, 10.696, 0.948),
    ("memory", "GPT-5.4", "minimal", 70, 208.496, 151.442, 1.428, 10.473, 10.545, 0.999),
    ("memory", "Efficoder", "detailed", 68, 257.613, 234.339, 1.032, 14.181, 14.305, 0.966),
    ("memory", "GPT-5.4", "detailed", 68, 257.613, 160.941, 1.628, 14.181, 14.215, 0.999),
    ("balanced", "Efficoder", "minimal", 64, 323.077, 178.601, 1.768, 7.843, 8.223, 0.901),
    ("balanced", "GPT-5.4", "minimal", 64, 323.077, 144.835, 2.211, 7.843, 7.844, 0.999),
    ("balanced", "Efficoder", "detailed", 61, 206.693, 181.124, 1.152, 2.346, 2.505, 0.949),
    ("balanced", "GPT-5.4", "detailed", 61, 206.693, 142.447, 1.472, 2.346, 2.349, 0.999),
]
TABLE2_CAPTION = ("EFFICODER VS. GPT-5.4 AVERAGE BEFORE/AFTER METRICS. COMPUTED ON COMMON SUCCESSFUL TASKS (N) "
                  "OUT OF 163 TOTAL; BEFORE VALUES USE A SHARED AVERAGED BASELINE.")

# ---- Table III (Sec. VI-H): before/after of the paper's model on seven programs ------------------------
# (sample, our pattern, latency ms orig/opt, memory KB orig/opt, cycles orig/opt, throughput orig/opt,
#  energy mJ orig/opt) as printed ("≈ 0", "< 1", "380M", "39M ops/s" kept as text).
TABLE3 = [
    ("Triangular Sum", "triangular_sum", "220.4", "≈ 0", "< 1", "< 1", "380M", "26M", "136 ops/s", "39M ops/s",
     "95.0", "6.5"),
    ("Nested Loop Filter", "nested_loop_filter", "871.5", "1.1", "71", "71", "1.15G", "29M", "6 ops/s", "5K ops/s",
     "287.5", "7.3"),
    ("File Lines (2 reads)", "file_read_twice", "11.1", "3.2", "1217", "615", "45M", "36M", "2K ops/s", "6K ops/s",
     "11.3", "9.0"),
    ("String Concatenation", "string_concat", "25.3", "15.0", "107", "1163", "62M", "56M", "790 ops/s", "1K ops/s",
     "15.5", "14.0"),
    ("List Comprehension", "list_append", "276.9", "245.2", "19694", "19694", "338M", "282M", "72 ops/s", "82 ops/s",
     "84.5", "70.5"),
    ("Redundant Sort", "redundant_sort", "79.7", "75.1", "10931", "9368", "99M", "90M", "251 ops/s", "266 ops/s",
     "24.8", "22.5"),
    ("Dict Histogram", "dict_histogram", "144.1", "147.8", "6284", "6303", "360M", "336M", "139 ops/s", "135 ops/s",
     "90.0", "84.0"),
]
TABLE3_SUMMARY = {"latency": "46.7% latency reduction", "memory": "9.1% memory reduction",
                  "cycles": "36.0% cycles reduction", "throughput": "improved in most cases",
                  "energy": "36.0% energy reduction"}
TABLE3_MEASUREMENT = (
    "Sec. V-C: \"Latency is measured using repeated wall-clock trials, memory is measured using peak allocation "
    "statistics, CPU cycles are collected using hardware performance counters, throughput is reported as "
    "function calls per second, and energy is estimated from CPU cycles.\" Sec. XI-B: \"using `perf stat` and "
    "`tracemalloc`\".")

# ---- Fig. 7 (Sec. VI-E) and the limitation on memory (Sec. VIII) --------------------------------------
FIG7_MEMORY_PREF_RATE = 0.394
FIG7_STATEMENTS = [
    ("b", "latency, CPU cycles, throughput, and energy show near-perfect optimization success rates"),
    ("b", "Memory behaves differently, with a substantially lower success rate"),
    ("viii", "memory usage exhibited a preference rate of only 39.4% barely above chance"),
    ("c", "most preference pairs provide moderate but meaningful latency improvement, with the majority "
          "falling in the 1–1.5× range"),
    ("d", "memory is centered closer to parity and shows higher variability"),
]
FIG7_DATASET = ("Sec. V-A: \"The raw split contains 36,857 Python entries, and after enrichment and filtering, "
                "35,752 usable preference pairs are used for DPO training.\"")

# ---- Fig. 5, 6, 8 (Sec. VI-C, D, F) ------------------------------------------------------------------
FIG5 = ("Metrics with consistent improvement signals, such as latency, CPU cycles, throughput, and energy, "
        "receive stronger weight during training. In contrast, memory receives lower relative emphasis")
FIG6 = ("Latency receives the strongest preference signal, while CPU cycles, throughput, and energy also "
        "provide useful optimization feedback. Memory contributes less strongly")
FIG8 = ("Latency, CPU cycles, throughput, and energy show clearer positive advantage signals [...] Memory, "
        "however, provides a weaker signal")
TRAINING_RUN = ("Sec. V-B: Qwen2.5-Coder-7B-Instruct, 4-bit NF4 QLoRA, \"up to 72,000 DPO steps using a learning "
                "rate of 2×10^-6, β = 0.015, and an adaptive Dirichlet learning rate of 0.002\", α clipped to "
                "[0.75, 1.5], from a warm-start checkpoint, on one A100 80GB.")

# ---- Appendix E (Fig. 10, 11) ------------------------------------------------------------------------
APPENDIX_E = ("\"In the simulation, we configured the DPO loss to be higher for the memory, CPU, and energy "
              "metrics and made it lower for runtime and throughput.\" \"By epoch 50, memory and energy reach "
              "the hard-coded upper bound value of 10.\"")
