"""Column names used across clvlab, defined once."""

from __future__ import annotations

# canonical transaction log (output of load_transactions)
CUSTOMER_ID = "customer_id"
DATE = "date"
AMOUNT = "amount"

# RFM summary (output of rfm_summary), index CUSTOMER_ID
FREQUENCY = "frequency"
RECENCY = "recency"
T = "T"
MONETARY_VALUE = "monetary_value"
# historical columns of the RFM summary (used for historical CLV)
TOTAL_SPEND = "total_spend"
N_TRANSACTIONS = "n_transactions"
FIRST_PURCHASE = "first_purchase"
LAST_PURCHASE = "last_purchase"

# holdout columns (output of calibration_holdout)
FREQUENCY_HOLDOUT = "frequency_holdout"
MONETARY_VALUE_HOLDOUT = "monetary_value_holdout"
DURATION_HOLDOUT = "duration_holdout"
TOTAL_SPEND_HOLDOUT = "total_spend_holdout"
N_TRANSACTIONS_HOLDOUT = "n_transactions_holdout"

RFM_COLUMNS = (FREQUENCY, RECENCY, T, MONETARY_VALUE)

# keys of DataFrame.attrs written by rfm_summary / calibration_holdout
ATTR_TIME_UNIT = "time_unit"
ATTR_MERGE_PERIOD = "merge_period"
ATTR_OBSERVATION_END = "observation_end"
ATTR_CALIBRATION_END = "calibration_end"
