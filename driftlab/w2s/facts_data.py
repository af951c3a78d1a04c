"""Shipped world knowledge for the generated weak-to-strong tasks (facts and sizes).

Knowledge is what pretraining scale buys a small model, so tasks built on it separate the
ladder's rungs where syntax-only tasks would not (Burns et al. 2023 pick NLP sets the large
models find salient). Entries are common, checkable facts; masses are typical adult values.
"""

# country | capital | continent
COUNTRIES = """
Afghanistan|Kabul|Asia
Albania|Tirana|Europe
Algeria|Algiers|Africa
Angola|Luanda|Africa
Argentina|Buenos Aires|South America
Armenia|Yerevan|Asia
Australia|Canberra|Oceania
Austria|Vienna|Europe
Azerbaijan|Baku|Asia
Bangladesh|Dhaka|Asia
Belarus|Minsk|Europe
Belgium|Brussels|Europe
Bolivia|La Paz|South America
Brazil|Brasilia|South America
Bulgaria|Sofia|Europe
Cambodia|Phnom Penh|Asia
Cameroon|Yaounde|Africa
Canada|Ottawa|North America
Chile|Santiago|South America
China|Beijing|Asia
Colombia|Bogota|South America
Costa Rica|San Jose|North America
Croatia|Zagreb|Europe
Cuba|Havana|North America
Czechia|Prague|Europe
Denmark|Copenhagen|Europe
Ecuador|Quito|South America
Egypt|Cairo|Africa
Estonia|Tallinn|Europe
Ethiopia|Addis Ababa|Africa
Finland|Helsinki|Europe
France|Paris|Europe
Georgia|Tbilisi|Asia
Germany|Berlin|Europe
Ghana|Accra|Africa
Greece|Athens|Europe
Guatemala|Guatemala City|North America
Honduras|Tegucigalpa|North America
Hungary|Budapest|Europe
Iceland|Reykjavik|Europe
India|New Delhi|Asia
Indonesia|Jakarta|Asia
Iran|Tehran|Asia
Iraq|Baghdad|Asia
Ireland|Dublin|Europe
Israel|Jerusalem|Asia
Italy|Rome|Europe
Jamaica|Kingston|North America
Japan|Tokyo|Asia
Jordan|Amman|Asia
Kazakhstan|Astana|Asia
Kenya|Nairobi|Africa
Kuwait|Kuwait City|Asia
Laos|Vientiane|Asia
Latvia|Riga|Europe
Lebanon|Beirut|Asia
Libya|Tripoli|Africa
Lithuania|Vilnius|Europe
Madagascar|Antananarivo|Africa
Malaysia|Kuala Lumpur|Asia
Mali|Bamako|Africa
Mexico|Mexico City|North America
Mongolia|Ulaanbaatar|Asia
Morocco|Rabat|Africa
Mozambique|Maputo|Africa
Nepal|Kathmandu|Asia
Netherlands|Amsterdam|Europe
New Zealand|Wellington|Oceania
Nicaragua|Managua|North America
Niger|Niamey|Africa
Nigeria|Abuja|Africa
North Korea|Pyongyang|Asia
Norway|Oslo|Europe
Oman|Muscat|Asia
Pakistan|Islamabad|Asia
Panama|Panama City|North America
Papua New Guinea|Port Moresby|Oceania
Paraguay|Asuncion|South America
Peru|Lima|South America
Philippines|Manila|Asia
Poland|Warsaw|Europe
Portugal|Lisbon|Europe
Qatar|Doha|Asia
Romania|Bucharest|Europe
Russia|Moscow|Europe
Rwanda|Kigali|Africa
Saudi Arabia|Riyadh|Asia
Senegal|Dakar|Africa
Serbia|Belgrade|Europe
Singapore|Singapore|Asia
Slovakia|Bratislava|Europe
Slovenia|Ljubljana|Europe
Somalia|Mogadishu|Africa
South Africa|Pretoria|Africa
South Korea|Seoul|Asia
Spain|Madrid|Europe
Sri Lanka|Colombo|Asia
Sudan|Khartoum|Africa
Sweden|Stockholm|Europe
Switzerland|Bern|Europe
Syria|Damascus|Asia
Taiwan|Taipei|Asia
Tanzania|Dodoma|Africa
Thailand|Bangkok|Asia
Tunisia|Tunis|Africa
Turkey|Ankara|Asia
Uganda|Kampala|Africa
Ukraine|Kyiv|Europe
United Kingdom|London|Europe
United States|Washington|North America
Uruguay|Montevideo|South America
Uzbekistan|Tashkent|Asia
Venezuela|Caracas|South America
Vietnam|Hanoi|Asia
Yemen|Sanaa|Asia
Zambia|Lusaka|Africa
Zimbabwe|Harare|Africa
Fiji|Suva|Oceania
Samoa|Apia|Oceania
Tonga|Nuku'alofa|Oceania
Vanuatu|Port Vila|Oceania
Solomon Islands|Honiara|Oceania
"""

# thing | typical mass in kg
MASSES = """
grain of rice|0.00003
ant|0.000003
honeybee|0.0001
housefly|0.00002
paperclip|0.001
coin|0.005
sheet of paper|0.005
hummingbird|0.004
strawberry|0.012
egg|0.06
mouse|0.02
tennis ball|0.058
golf ball|0.046
pencil|0.007
spoon|0.04
banana|0.12
apple|0.2
smartphone|0.2
sparrow|0.03
frog|0.1
rat|0.3
can of soup|0.4
football|0.43
pigeon|0.35
squirrel|0.5
book|0.8
pineapple|1.5
laptop|2
chicken|2.5
cat|4
brick|3
watermelon|8
fox|7
bowling ball|7
car tire|10
beaver|20
dog|25
microwave oven|15
bicycle|12
goat|60
sheep|80
kangaroo|70
adult human|70
washing machine|75
deer|100
lion|190
gorilla|160
refrigerator|100
piano|300
grizzly bear|400
motorcycle|200
cow|700
horse|500
moose|500
polar bear|450
camel|500
car|1500
hippopotamus|1500
rhinoceros|2300
giraffe|1200
pickup truck|2500
elephant|6000
school bus|11000
orca|5000
tank|60000
humpback whale|30000
airliner|40000
locomotive|100000
blue whale|150000
space shuttle|2000000
cruise ship|50000000
"""


def parse(table: str) -> list[list[str]]:
    return [line.split("|") for line in table.strip().splitlines()]
