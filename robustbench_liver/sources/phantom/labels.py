"""Label values of the phantom's label map, and portal-venous-phase HU per tissue."""

from __future__ import annotations

# Label 2 is left free: it means "tumor" in the LiTS / MSD Task03 convention that cases use.
LABELS: dict[str, int] = {
    "background": 0,
    "liver": 1,
    "portal_vein": 3,  # portal, splenic and superior mesenteric veins
    "hepatic_veins": 4,
    "inferior_vena_cava": 5,
    "aorta": 6,
    "spleen": 7,
    "kidney_right": 8,
    "kidney_left": 9,
    "stomach": 10,
    "gallbladder": 11,
    "pancreas": 12,
    "bowel": 13,
    "bone": 14,
    "costal_cartilage": 15,
    "intervertebral_disc": 16,
    "spinal_canal": 17,
    "muscle": 18,
    "subcutaneous_fat": 19,
    "skin": 20,
    "visceral_fat": 21,
    "lung": 22,
    "heart": 23,
    "table": 24,
}

VESSEL_LABELS: tuple[int, ...] = (
    LABELS["portal_vein"],
    LABELS["hepatic_veins"],
    LABELS["inferior_vena_cava"],
)

# Typical portal-venous-phase attenuation (HU); liver and vessel values are drawn per seed.
BASE_HU: dict[str, float] = {
    "background": -1000.0,
    "inferior_vena_cava": 140.0,
    "aorta": 165.0,
    "spleen": 120.0,
    "kidney_cortex": 185.0,
    "kidney_medulla": 135.0,
    "stomach_wall": 75.0,
    "stomach_fluid": 15.0,
    "gas": -950.0,
    "gallbladder": 8.0,
    "pancreas": 95.0,
    "bowel_wall": 70.0,
    "bowel_fluid": 20.0,
    "cortical_bone": 750.0,
    "cancellous_bone": 230.0,
    "costal_cartilage": 130.0,
    "intervertebral_disc": 85.0,
    "spinal_canal": 15.0,
    "muscle": 52.0,
    "fat": -100.0,
    "skin": 35.0,
    "visceral_fat": -95.0,
    "lung": -860.0,
    "heart": 140.0,
    "myocardium": 95.0,
    "table": 60.0,
}
